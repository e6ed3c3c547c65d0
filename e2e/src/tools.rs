//! Finding the binaries under test: Envoy from `cargo xtask tools`, and `mesh-control`
//! and `meshctl` built from this workspace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Envoy installed by `cargo xtask tools`: `$MESH_TOOLS_DIR/envoy`, falling back to
/// `<workspace>/target/tools/bin/envoy`. `None` when it is not installed.
pub fn envoy() -> Option<PathBuf> {
    let dir = std::env::var_os("MESH_TOOLS_DIR")
        .map_or_else(|| workspace_root().join("target/tools/bin"), PathBuf::from);
    let envoy = dir.join("envoy");
    envoy.is_file().then_some(envoy)
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The built `mesh-control` binary.
pub fn mesh_control() -> PathBuf {
    built_binary("mesh-control")
}

/// The built `mesh-proxy` binary.
pub fn mesh_proxy() -> PathBuf {
    built_binary("mesh-proxy")
}

/// The built `meshctl` binary.
pub fn meshctl() -> PathBuf {
    built_binary("meshctl")
}

/// Set by `cargo xtask demo` (or by hand) to the directory of already-built binaries
/// (`target/debug`): they are used as they are, nothing is rebuilt.
pub const BIN_DIR_ENV: &str = "MESH_BIN_DIR";

/// The directory given in [`BIN_DIR_ENV`], when set: binaries there are not rebuilt.
pub fn prebuilt_dir() -> Option<PathBuf> {
    std::env::var_os(BIN_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// `target/<profile>/<name>`, built once per test process. Cargo builds only the
/// binaries of a test's own package, so this runs `cargo build` for the others (a no-op
/// when they are fresh); that way a test never runs a stale binary. With
/// [`BIN_DIR_ENV`] set, the binaries there are taken as they are.
fn built_binary(name: &str) -> PathBuf {
    if let Some(dir) = prebuilt_dir() {
        return dir.join(name);
    }
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let profile_dir = profile_dir();
    let built = BUILT.get_or_init(|| build_binaries(&profile_dir));
    let path = profile_dir.join(name);
    if let Err(e) = built {
        assert!(
            path.is_file(),
            "{name} is not built and building it failed: {e}"
        );
        eprintln!(
            "warning: could not rebuild {name} ({e}); using {}",
            path.display()
        );
    }
    path
}

/// `target/debug` (or the profile this test was built with), from the test's own path
/// `target/<profile>/deps/<test>-<hash>`, or a binary's `target/<profile>/<bin>`.
fn profile_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let dir = exe.parent()?;
            let dir = if dir.file_name()? == "deps" {
                dir.parent()?
            } else {
                dir
            };
            Some(dir.to_path_buf())
        })
        .unwrap_or_else(|| workspace_root().join("target/debug"))
}

fn build_binaries(profile_dir: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "-p",
        "mesh-control",
        "-p",
        "mesh-ctl",
        "-p",
        "mesh-proxy",
        "--bins",
    ]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build -p mesh-control -p mesh-ctl -p mesh-proxy` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
