//! Where things live in the workspace: the root, the charts and the tools.

use std::path::{Path, PathBuf};

/// The paths `cargo xtask` works with, all absolute.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace this xtask binary was built from: the parent of `xtask/`.
    pub(crate) fn locate() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        Self { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn charts_dir(&self) -> PathBuf {
        self.root.join("charts")
    }

    /// Generated CRD manifests, installed by Helm from the chart's `crds/` directory.
    pub(crate) fn crds_dir(&self) -> PathBuf {
        self.charts_dir().join("mesh-base").join("crds")
    }

    /// Istio's CRD fields as mesh-api's compatibility tests read them.
    pub(crate) fn istio_fields_table(&self) -> PathBuf {
        self.root
            .join("mesh-api")
            .join("tests")
            .join("data")
            .join("istio-crd-fields.txt")
    }

    /// Everything `cargo xtask tools` installs lives under here.
    pub(crate) fn tools_dir(&self) -> PathBuf {
        self.root.join("target").join("tools")
    }

    pub(crate) fn tools_bin_dir(&self) -> PathBuf {
        self.tools_dir().join("bin")
    }

    /// Scratch space for files rendered by checks (e.g. `helm template` output).
    pub(crate) fn scratch_dir(&self) -> PathBuf {
        self.root.join("target").join("xtask")
    }

    /// `path` relative to the root when it is inside the workspace, for shorter messages.
    pub(crate) fn display<'a>(&self, path: &'a Path) -> std::path::Display<'a> {
        path.strip_prefix(&self.root).unwrap_or(path).display()
    }
}
