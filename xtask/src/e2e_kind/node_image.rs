//! The kind release the suite is pinned to and the node images built for it, by
//! Kubernetes minor version (`--kubernetes-version 1.34` → `kindest/node:v1.34.0@…`).
//!
//! kind supports a node image with the kind release it was published with, and other
//! releases best-effort; images are pinned by digest, as kind's release notes ask.

/// The kind release the workflow installs and `cargo xtask e2e kind` expects.
pub(crate) const KIND_VERSION: &str = "v0.30.0";

/// Kubernetes minor → node image. 1.31–1.34 were published with kind v0.30.0; 1.30
/// with v0.29.0 and 1.29 with v0.26.0 (supported best-effort by v0.30.0).
pub(crate) const NODE_IMAGES: &[(&str, &str)] = &[
    (
        "1.29",
        "kindest/node:v1.29.12@sha256:62c0672ba99a4afd7396512848d6fc382906b8f33349ae68fb1dbfe549f70dec",
    ),
    (
        "1.30",
        "kindest/node:v1.30.13@sha256:397209b3d947d154f6641f2d0ce8d473732bd91c87d9575ade99049aa33cd648",
    ),
    (
        "1.31",
        "kindest/node:v1.31.12@sha256:0f5cc49c5e73c0c2bb6e2df56e7df189240d83cf94edfa30946482eb08ec57d2",
    ),
    (
        "1.32",
        "kindest/node:v1.32.8@sha256:abd489f042d2b644e2d033f5c2d900bc707798d075e8186cb65e3f1367a9d5a1",
    ),
    (
        "1.33",
        "kindest/node:v1.33.4@sha256:25a6018e48dfcaee478f4a59af81157a437f15e6e140bf103f85a2e7cd0cbbf2",
    ),
    (
        "1.34",
        "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a",
    ),
];

/// The Kubernetes version the suite runs on when none is given.
pub(crate) const DEFAULT_KUBERNETES_VERSION: &str = "1.34";

/// The node image for `version` (`1.33`, `v1.33`, `1.33.4`: the minor decides).
pub(crate) fn node_image(version: &str) -> Result<&'static str, String> {
    let version = version.trim().trim_start_matches('v');
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    NODE_IMAGES
        .iter()
        .find(|(v, _)| *v == minor)
        .map(|(_, image)| *image)
        .ok_or_else(|| {
            let known: Vec<&str> = NODE_IMAGES.iter().map(|(v, _)| *v).collect();
            format!(
                "no kind node image pinned for Kubernetes {version}: pick one of {} \
                 (or add its image from kind's release notes to \
                 xtask/src/e2e_kind/node_image.rs)",
                known.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minor_version_picks_the_pinned_image() {
        assert!(node_image("1.33").is_ok_and(|i| i.starts_with("kindest/node:v1.33.4@sha256:")));
        assert_eq!(node_image("v1.29.3"), node_image("1.29"));
        let err = node_image("1.20").expect_err("not pinned");
        assert!(
            err.contains("1.29, 1.30") && err.contains("node_image.rs"),
            "{err}"
        );
        assert!(node_image(DEFAULT_KUBERNETES_VERSION).is_ok());
    }

    #[test]
    fn every_image_is_pinned_by_digest_and_matches_its_minor() {
        for (minor, image) in NODE_IMAGES {
            let (tag, digest) = image.split_once('@').expect("a digest");
            assert!(
                tag.starts_with(&format!("kindest/node:v{minor}.")),
                "{image}"
            );
            let hex = digest.strip_prefix("sha256:").unwrap_or_default();
            assert!(
                hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
                "{image}"
            );
        }
    }
}
