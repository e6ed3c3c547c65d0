//! Running child processes with the project's tools on `PATH`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

/// The environment every child process gets: `target/tools/bin` first on `PATH`,
/// `MESH_TOOLS_DIR` for tests that need Envoy or Helm, and Helm's state kept under
/// `target/tools` so that nothing reads or writes the user's own Helm config.
#[derive(Debug, Clone)]
pub(crate) struct ToolEnv {
    bin_dir: PathBuf,
    helm_home: PathBuf,
}

impl ToolEnv {
    pub(crate) fn new(ws: &Workspace) -> Self {
        Self {
            bin_dir: ws.tools_bin_dir(),
            helm_home: ws.tools_dir().join("helm-home"),
        }
    }

    pub(crate) fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A command for `program` with the tool environment applied.
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PATH", self.path())
            .env("MESH_TOOLS_DIR", &self.bin_dir)
            .env("HELM_CACHE_HOME", self.helm_home.join("cache"))
            .env("HELM_CONFIG_HOME", self.helm_home.join("config"))
            .env("HELM_DATA_HOME", self.helm_home.join("data"));
        cmd
    }

    /// A command for a binary installed by `cargo xtask tools`.
    pub(crate) fn tool(&self, name: &str) -> Command {
        self.command(self.bin_dir.join(name))
    }

    /// The same `cargo` that runs this xtask.
    pub(crate) fn cargo(&self) -> Command {
        self.command(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
    }

    fn path(&self) -> OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.bin_dir.clone()).chain(std::env::split_paths(&rest));
        std::env::join_paths(dirs).unwrap_or(rest)
    }
}

/// Runs `cmd` with inherited stdio; fails when it cannot start or exits non-zero.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = describe(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`: is it installed?"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` with its output captured; on failure the error carries its stderr.
pub(crate) fn output(cmd: &mut Command) -> Result<Output> {
    let shown = describe(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{shown}`: is it installed?"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}):\n{}{}",
            out.status,
            tail(&out.stdout),
            tail(&out.stderr)
        );
    }
    Ok(out)
}

/// The command line as a user would type it (program name without its directory).
pub(crate) fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last lines of a captured stream: enough to see why, not a wall of text.
fn tail(bytes: &[u8]) -> String {
    const LINES: usize = 20;
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LINES);
    lines[start..]
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect()
}
