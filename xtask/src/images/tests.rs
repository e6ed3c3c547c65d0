//! What the images promise, checked on images/Dockerfile without a container engine
//! (hadolint is not available here; these are the invariants that matter to us).

use std::collections::BTreeSet;

use super::dockerfile::{self, Stage};
use super::*;

fn stages() -> Vec<Stage> {
    let ws = Workspace::locate();
    let text = std::fs::read_to_string(ws.root().join(DOCKERFILE)).expect("images/Dockerfile");
    dockerfile::parse(&text).expect("images/Dockerfile parses")
}

fn stage<'a>(stages: &'a [Stage], name: &str) -> &'a Stage {
    stages
        .iter()
        .find(|s| s.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("images/Dockerfile has no stage {name}"))
}

/// The `[[bin]]` names of the workspace's crates, read from their manifests.
fn workspace_binaries() -> BTreeSet<String> {
    let ws = Workspace::locate();
    let mut names = BTreeSet::new();
    for member in [
        "mesh-proxy",
        "mesh-control",
        "mesh-ctl",
        "examples/sample-app",
    ] {
        let manifest = std::fs::read_to_string(ws.root().join(member).join("Cargo.toml"))
            .expect("member manifest");
        let mut lines = manifest.lines();
        while let Some(line) = lines.next() {
            if line.trim() == "[[bin]]" {
                let name = lines
                    .next()
                    .and_then(|l| l.trim().strip_prefix("name = "))
                    .map(|n| n.trim_matches('"').to_string());
                names.extend(name);
            }
        }
    }
    names
}

#[test]
fn every_image_is_a_stage_built_from_the_builder() {
    let stages = stages();
    assert!(
        stages.len() >= 2,
        "multi-stage: a builder and runtime stages"
    );
    let builder = stage(&stages, "builder");
    for image in Image::ALL {
        let runtime = stage(&stages, image.name());
        assert_ne!(
            runtime.base,
            builder.base,
            "{}: the runtime is not the toolchain image",
            image.name()
        );
        let copy = format!("--from=builder /out/{0} /usr/local/bin/{0}", image.name());
        assert!(
            runtime.all("COPY").any(|c| c == copy),
            "{}: COPY {copy}",
            image.name()
        );
        // Nothing but the binary comes from the build context into a runtime image.
        assert!(
            runtime
                .all("COPY")
                .all(|c| c.starts_with("--from=builder ")),
            "{}: COPY only from the builder",
            image.name()
        );
    }
}

#[test]
fn binaries_are_named_as_the_workspace_builds_them() {
    let binaries = workspace_binaries();
    let stages = stages();
    let build = stage(&stages, "builder")
        .all("RUN")
        .find(|r| r.contains("cargo build"))
        .expect("the builder runs cargo build")
        .to_string();
    assert!(
        build.contains("--locked") && build.contains("--release"),
        "{build}"
    );
    for image in Image::ALL {
        assert!(
            binaries.contains(image.name()),
            "{} is a [[bin]] of the workspace: {binaries:?}",
            image.name()
        );
        assert!(
            build.contains(&format!("--bin {}", image.name()))
                && build.contains(&format!("target/release/{}", image.name())),
            "the builder builds and copies out {}: {build}",
            image.name()
        );
    }
}

#[test]
fn runtime_images_run_as_their_non_root_users() {
    let stages = stages();
    for (image, uid) in [
        (Image::Proxy, "1337"),
        (Image::Control, "65532"),
        (Image::SampleApp, "1000"),
    ] {
        let user = stage(&stages, image.name())
            .last("USER")
            .unwrap_or_else(|| panic!("{}: USER", image.name()));
        let (u, g) = user.split_once(':').unwrap_or((user, ""));
        assert_eq!(u, uid, "{}: USER {user}", image.name());
        assert_ne!(g, "0", "{}: not the root group", image.name());
    }
}

#[test]
fn entrypoints_are_the_binaries_in_exec_form() {
    let stages = stages();
    for image in Image::ALL {
        let entrypoint = stage(&stages, image.name())
            .last("ENTRYPOINT")
            .and_then(dockerfile::exec_form)
            .unwrap_or_else(|| panic!("{}: ENTRYPOINT in exec form", image.name()));
        assert_eq!(entrypoint, [format!("/usr/local/bin/{}", image.name())]);
    }
    let proxy = stage(&stages, "mesh-proxy");
    assert_eq!(
        proxy.last("CMD").and_then(dockerfile::exec_form),
        Some(vec!["run".to_string()])
    );
}

#[test]
fn base_images_are_pinned_by_tag_and_the_builder_by_rust_version() {
    let stages = stages();
    for stage in &stages {
        let tag =
            dockerfile::tag(&stage.base).unwrap_or_else(|| panic!("{}: pin a tag", stage.base));
        assert!(
            !tag.is_empty() && tag != "latest",
            "{}: pin a tag, not latest",
            stage.base
        );
    }
    let builder = stage(&stages, "builder");
    let rust_version = env!("CARGO_PKG_RUST_VERSION");
    let tag = dockerfile::tag(&builder.base).unwrap_or_default();
    assert!(
        builder.base.contains("/rust:") && tag.starts_with(&format!("{rust_version}-")),
        "the builder is rust:{rust_version}-… (the workspace's rust-version): {}",
        builder.base
    );
    // The runtime images share the builder's Debian release (glibc of the binaries).
    let release = tag.rsplit('-').next().unwrap_or_default();
    for image in Image::ALL {
        let base = &stage(&stages, image.name()).base;
        let debian12 = release == "bookworm" && base.contains("debian12");
        assert!(
            base.contains(release) || debian12,
            "{base}: Debian {release}"
        );
    }
}

#[test]
fn the_builder_caches_cargo_and_the_proxy_image_has_iptables() {
    let stages = stages();
    let build = stage(&stages, "builder")
        .all("RUN")
        .find(|r| r.contains("cargo build"))
        .unwrap_or_default()
        .to_string();
    for target in ["/usr/local/cargo/registry", "/workspace/target"] {
        assert!(
            build.contains("--mount=type=cache,") && build.contains(target),
            "cache mount for {target}: {build}"
        );
    }
    let proxy = stage(&stages, "mesh-proxy");
    assert!(
        proxy
            .all("RUN")
            .any(|r| r.contains("install") && r.contains("iptables")),
        "mesh-proxy redirect execs iptables-restore and ip6tables-restore"
    );
}

#[test]
fn dockerignore_keeps_build_output_and_git_out_of_the_context() {
    let ws = Workspace::locate();
    let ignore = std::fs::read_to_string(ws.root().join(".dockerignore")).expect(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target/", ".git/"] {
        assert!(lines.contains(&entry), ".dockerignore lists {entry}");
    }
}

#[test]
fn build_arguments_name_the_target_tag_and_context() {
    let args = build_args(EngineKind::Podman, Image::Control, "r/mesh-control:t", true);
    assert_eq!(
        &args[..7],
        [
            "build",
            "-f",
            DOCKERFILE,
            "--target",
            "mesh-control",
            "-t",
            "r/mesh-control:t"
        ]
    );
    assert!(args.contains(&"CARGO_PROFILE_RELEASE_LTO=thin".to_string()));
    assert_eq!(args.last().map(String::as_str), Some("."));
    assert!(
        !args.iter().any(|a| a.starts_with("--progress")),
        "podman has no --progress"
    );
    assert_eq!(
        Image::Proxy.reference("ghcr.io/mesh-dev/", "0.1.0"),
        "ghcr.io/mesh-dev/mesh-proxy:0.1.0"
    );
}

#[test]
fn a_missing_engine_is_named_with_what_to_install() {
    // PATH is process-wide: only this test looks for podman, which is not installed
    // where these tests run; where it is, the message check is skipped.
    if find_on_path("podman").is_some() {
        return;
    }
    let why = find_engine(EngineChoice::Podman).expect_err("no podman here");
    assert!(why.contains("podman is not installed"), "{why}");
    assert!(
        why.contains("Install Podman") && why.contains("GitHub Actions"),
        "{why}"
    );
}

#[test]
fn the_sample_app_image_has_what_the_kind_pods_run() {
    // KindCluster's readiness probe is `bash -c` over /dev/tcp and its preStop hook is
    // `sleep`: Debian's bash and coreutils, which distroless images lack.
    let stages = stages();
    let sample = stage(&stages, Image::SampleApp.name());
    assert!(
        sample.base.starts_with("docker.io/library/debian:"),
        "{}: a Debian base with bash and sleep",
        sample.base
    );
}
