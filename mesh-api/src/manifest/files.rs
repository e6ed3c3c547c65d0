//! Finding manifest files in a directory tree.

use std::path::{Path, PathBuf};

/// Every `.yaml`, `.yml` and `.json` file below `dir`, in path order. Hidden entries
/// are skipped: editors' swap files, and the `..data` copies a Kubernetes ConfigMap
/// volume keeps beside the visible symlinks (which are followed).
pub fn manifest_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => pending.push(path),
                Ok(m) if m.is_file() && is_manifest(&path) => files.push(path),
                // A dangling symlink or a file removed while listing: nothing to read.
                _ => {}
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}
