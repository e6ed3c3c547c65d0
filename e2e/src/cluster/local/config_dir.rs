//! The control plane's config directory, as the cluster writes it: whole files,
//! replaced atomically so the watcher never reads half of one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cluster::ClusterError;

/// A directory `mesh-control --config-dir` watches.
#[derive(Debug)]
pub(super) struct ConfigDir {
    path: PathBuf,
}

impl ConfigDir {
    pub(super) fn new(path: PathBuf) -> ConfigDir {
        ConfigDir { path }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `file` through a hidden temporary file (hidden files are not read).
    pub(super) fn write(&self, file: &str, yaml: &str) -> Result<(), ClusterError> {
        let valid = !file.starts_with('.')
            && !file.contains('/')
            && [".yaml", ".yml", ".json"]
                .iter()
                .any(|ext| file.ends_with(ext));
        if !valid {
            return Err(error(
                file,
                "name it like `routing.yaml` (no directories, not hidden)",
            ));
        }
        let tmp = self.path.join(format!(".{file}.tmp"));
        fs::write(&tmp, yaml).map_err(|e| error(file, e))?;
        fs::rename(&tmp, self.path.join(file)).map_err(|e| error(file, e))
    }

    /// Deletes `file`, which removes its objects; a missing file is not an error.
    pub(super) fn remove(&self, file: &str) -> Result<(), ClusterError> {
        match fs::remove_file(self.path.join(file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(error(file, e)),
            _ => Ok(()),
        }
    }
}

fn error(file: &str, detail: impl ToString) -> ClusterError {
    ClusterError::Config {
        file: file.to_string(),
        detail: detail.to_string(),
    }
}
