//! The programs a local pod runs, placed where the pod's users can run them: the
//! workspace's target directory may sit below a home directory other users cannot
//! enter, so they are linked (or copied) into the cluster's own directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cluster::{ClusterError, SAMPLE_APP};
use crate::tools;

/// Paths of the programs pods and the control plane run.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub(super) sample_app: PathBuf,
    pub(super) mesh_proxy: PathBuf,
    pub(super) mesh_control: PathBuf,
    /// Run as root (tokens, Envoy bootstraps): not placed.
    meshctl: PathBuf,
    /// Placed on first use: only Envoy pods need it.
    dir: PathBuf,
}

impl Binaries {
    /// Builds what is stale (once per process) and puts the pods' programs in `dir`.
    pub(super) fn install(dir: &Path) -> Result<Binaries, ClusterError> {
        let mesh_control = tools::mesh_control();
        let mesh_proxy = tools::mesh_proxy();
        let sample_app = built_sample_app(&mesh_control)?;
        fs::create_dir_all(dir).map_err(|e| install_error(dir, &e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| install_error(dir, &e))?;
        Ok(Binaries {
            sample_app: place(&sample_app, dir)?,
            mesh_proxy: place(&mesh_proxy, dir)?,
            mesh_control,
            meshctl: tools::meshctl(),
            dir: dir.to_path_buf(),
        })
    }

    /// `meshctl` with `args`, its stdout; an error with its stderr.
    pub(super) fn meshctl(&self, args: &[&str]) -> Result<String, ClusterError> {
        let out = Command::new(&self.meshctl)
            .args(args)
            .output()
            .map_err(|e| install_error(&self.meshctl, &e))?;
        if !out.status.success() {
            return Err(ClusterError::Command {
                command: format!("meshctl {}", args.join(" ")),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `meshctl bootstrap envoy` with `args`: the bootstrap JSON.
    pub(super) fn bootstrap_envoy(&self, args: &[&str]) -> Result<String, ClusterError> {
        let mut all = vec!["bootstrap", "envoy"];
        all.extend_from_slice(args);
        self.meshctl(&all)
    }

    /// Envoy, placed where uid 1337 can run it.
    pub(super) fn envoy(&self) -> Result<String, ClusterError> {
        let envoy = tools::envoy().ok_or_else(|| ClusterError::Command {
            command: "find envoy".to_string(),
            detail: "Envoy is not installed; run `cargo xtask tools`".to_string(),
        })?;
        let placed = self.dir.join("envoy");
        if !placed.exists() {
            place(&envoy, &self.dir)?;
        }
        Ok(placed.to_string_lossy().into_owned())
    }

    /// The path of `program` when it is one of ours, else `program` (found on PATH).
    pub(super) fn resolve(&self, program: &str) -> String {
        let path = match program {
            SAMPLE_APP => &self.sample_app,
            "mesh-proxy" => &self.mesh_proxy,
            "mesh-control" => &self.mesh_control,
            "meshctl" => &self.meshctl,
            other => return other.to_string(),
        };
        path.to_string_lossy().into_owned()
    }
}

/// `mesh-sample-app` next to `mesh-control` (same profile), built once per process.
fn built_sample_app(mesh_control: &Path) -> Result<PathBuf, ClusterError> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let profile_dir = mesh_control.parent().unwrap_or(Path::new("."));
    if tools::prebuilt_dir().is_some() {
        return Ok(profile_dir.join(SAMPLE_APP));
    }
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(tools::workspace_root()).args([
            "build",
            "--quiet",
            "-p",
            "mesh-sample-app",
            "--bin",
            SAMPLE_APP,
        ]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => Err(format!("cannot run cargo: {e}")),
        }
    });
    let path = profile_dir.join(SAMPLE_APP);
    match built {
        Ok(()) => Ok(path),
        Err(_) if path.is_file() => Ok(path),
        Err(e) => Err(ClusterError::Command {
            command: "cargo build -p mesh-sample-app".to_string(),
            detail: e.clone(),
        }),
    }
}

/// A hard link (or, across file systems, a copy) of `binary` in `dir`, executable by all.
fn place(binary: &Path, dir: &Path) -> Result<PathBuf, ClusterError> {
    let name = binary.file_name().unwrap_or(binary.as_os_str());
    let target = dir.join(name);
    let _ = fs::remove_file(&target);
    if fs::hard_link(binary, &target).is_err() {
        fs::copy(binary, &target).map_err(|e| install_error(&target, &e))?;
    }
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
        .map_err(|e| install_error(&target, &e))?;
    Ok(target)
}

fn install_error(path: &Path, e: &std::io::Error) -> ClusterError {
    ClusterError::Command {
        command: format!("install {}", path.display()),
        detail: e.to_string(),
    }
}
