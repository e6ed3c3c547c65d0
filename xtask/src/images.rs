//! `cargo xtask images`: the container images of `images/Dockerfile` (mesh-proxy,
//! mesh-control, the sample app), built with Docker or Podman where one runs here;
//! where none does, it says so and what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::command::{ToolEnv, describe, run};
use crate::progress::Step;
use crate::workspace::Workspace;

pub(crate) mod dockerfile;

/// The Dockerfile, relative to the workspace root (the build context).
pub(crate) const DOCKERFILE: &str = "images/Dockerfile";
/// Where the images are published; the charts' `global.hub` default.
pub(crate) const DEFAULT_HUB: &str = "ghcr.io/mesh-dev";
/// The workspace version: the images' default tag and the charts' `global.tag`.
pub(crate) const WORKSPACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// An image and its Dockerfile target (the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Image {
    /// The sidecar with its redirect (init) and agent roles.
    Proxy,
    /// The control plane.
    Control,
    /// The sample workload the e2e suites deploy.
    SampleApp,
}

impl Image {
    pub(crate) const ALL: [Image; 3] = [Image::Proxy, Image::Control, Image::SampleApp];

    /// The image's name, its Dockerfile target and the binary it runs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Image::Proxy => "mesh-proxy",
            Image::Control => "mesh-control",
            Image::SampleApp => "mesh-sample-app",
        }
    }

    /// `<hub>/<name>:<tag>`.
    pub(crate) fn reference(self, hub: &str, tag: &str) -> String {
        format!("{}/{}:{tag}", hub.trim_end_matches('/'), self.name())
    }
}

/// Which container engine to build with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineChoice {
    /// Docker when it answers, else Podman.
    Auto,
    Docker,
    Podman,
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// The container engine.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    engine: EngineChoice,

    /// Registry and namespace of the images (the charts' `global.hub`).
    #[arg(long, default_value = DEFAULT_HUB)]
    hub: String,

    /// Tag of the images (the charts' `global.tag`); default: the workspace version.
    #[arg(long)]
    tag: Option<String>,

    /// Build only these (repeat or comma-separate); default: all three.
    #[arg(
        long = "image",
        value_enum,
        value_delimiter = ',',
        value_name = "IMAGE"
    )]
    images: Vec<Image>,

    /// Push each image after building it (log in to the registry first).
    #[arg(long)]
    push: bool,

    /// Thin LTO and 16 codegen units instead of the release profile's fat LTO: a
    /// faster build of slightly slower binaries, for tests.
    #[arg(long)]
    fast: bool,

    /// Where no container engine runs, say so and exit 0 instead of failing (for
    /// scripts that build images where they can).
    #[arg(long)]
    if_available: bool,
}

/// A container engine that answered `info`.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub(crate) kind: EngineKind,
    pub(crate) program: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineKind {
    Docker,
    Podman,
}

/// How the images are built: tag, hub and profile.
#[derive(Debug, Clone)]
pub(crate) struct BuildOptions {
    pub(crate) hub: String,
    pub(crate) tag: String,
    pub(crate) fast: bool,
}

impl EngineKind {
    pub(crate) fn program(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

pub(crate) fn run_images(ws: &Workspace, args: &ImagesArgs) -> Result<()> {
    let engine = match find_engine(args.engine) {
        Ok(engine) => engine,
        Err(why) if args.if_available => {
            println!("==> images skipped: {why}");
            return Ok(());
        }
        Err(why) => bail!("{why}"),
    };
    let options = BuildOptions {
        hub: args.hub.clone(),
        tag: args
            .tag
            .clone()
            .unwrap_or_else(|| WORKSPACE_VERSION.to_string()),
        fast: args.fast,
    };
    let images = if args.images.is_empty() {
        Image::ALL.to_vec()
    } else {
        args.images.clone()
    };
    let env = ToolEnv::new(ws);
    for image in images {
        build(ws, &env, &engine, image, &options)?;
        if args.push {
            let reference = image.reference(&options.hub, &options.tag);
            let mut push = env.command(&engine.program);
            push.args(["push", &reference]);
            Step::start(format!("push {reference}")).finish(run(&mut push).with_context(|| {
                format!(
                    "pushing {reference} failed: log in first (`{} login {}`)",
                    engine.kind.program(),
                    options.hub.split('/').next().unwrap_or_default()
                )
            }))?;
        }
    }
    Ok(())
}

/// Builds one image from the workspace, with the engine's own progress output.
pub(crate) fn build(
    ws: &Workspace,
    env: &ToolEnv,
    engine: &Engine,
    image: Image,
    options: &BuildOptions,
) -> Result<()> {
    check_target(ws, image)?;
    let reference = image.reference(&options.hub, &options.tag);
    let mut cmd = env.command(&engine.program);
    cmd.current_dir(ws.root())
        .args(build_args(engine.kind, image, &reference, options.fast))
        // The Dockerfile's cache mounts need BuildKit (the default since Docker 23).
        .env("DOCKER_BUILDKIT", "1");
    let shown = describe(&cmd);
    Step::start(format!("image {reference} ({})", engine.kind.program())).finish(
        run(&mut cmd).with_context(|| {
            format!("`{shown}` failed: the build's output above says which step and why")
        }),
    )
}

/// The engine's arguments for building `image` as `reference` from the workspace root.
pub(crate) fn build_args(
    kind: EngineKind,
    image: Image,
    reference: &str,
    fast: bool,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "build",
        "-f",
        DOCKERFILE,
        "--target",
        image.name(),
        "-t",
        reference,
    ]
    .map(String::from)
    .to_vec();
    if kind == EngineKind::Docker {
        // One line per step in CI logs, the interactive display on a terminal.
        args.push("--progress=auto".to_string());
    }
    if fast {
        for arg in [
            "CARGO_PROFILE_RELEASE_LTO=thin",
            "CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16",
        ] {
            args.extend(["--build-arg".to_string(), arg.to_string()]);
        }
    }
    args.push(".".to_string());
    args
}

/// Fails early, naming the file, when the Dockerfile lost a target.
fn check_target(ws: &Workspace, image: Image) -> Result<()> {
    let path = ws.root().join(DOCKERFILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", ws.display(&path)))?;
    let stages =
        dockerfile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", ws.display(&path)))?;
    if !stages
        .iter()
        .any(|s| s.name.as_deref() == Some(image.name()))
    {
        bail!(
            "{} has no stage `{}`: add `FROM … AS {}` for the image",
            ws.display(&path),
            image.name(),
            image.name()
        );
    }
    Ok(())
}

/// The engine to build with: installed (on `PATH`) and answering `info`. The error
/// says what is missing and what to install or start.
pub(crate) fn find_engine(choice: EngineChoice) -> std::result::Result<Engine, String> {
    let candidates: &[EngineKind] = match choice {
        EngineChoice::Auto => &[EngineKind::Docker, EngineKind::Podman],
        EngineChoice::Docker => &[EngineKind::Docker],
        EngineChoice::Podman => &[EngineKind::Podman],
    };
    let mut problems = Vec::new();
    for &kind in candidates {
        let Some(program) = find_on_path(kind.program()) else {
            problems.push(format!("{} is not installed (not on PATH)", kind.program()));
            continue;
        };
        let answered = Command::new(&program)
            .arg("info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if answered {
            return Ok(Engine { kind, program });
        }
        problems.push(match kind {
            EngineKind::Docker => format!(
                "{} is installed but `docker info` fails: start the daemon \
                 (`sudo systemctl start docker`) or add yourself to the `docker` group",
                program.display()
            ),
            EngineKind::Podman => format!(
                "{} is installed but `podman info` fails: run `podman info` to see why",
                program.display()
            ),
        });
    }
    let install = match choice {
        EngineChoice::Auto => {
            "Install Docker Engine with BuildKit \
                               (https://docs.docker.com/engine/install/) or Podman \
                               (`apt-get install podman`)"
        }
        EngineChoice::Docker => {
            "Install Docker Engine with BuildKit \
                                 (https://docs.docker.com/engine/install/)"
        }
        EngineChoice::Podman => "Install Podman (`apt-get install podman`)",
    };
    Err(format!(
        "no container engine: {}. {install}. Without one, the images are built and the \
         kind suite runs in GitHub Actions (.github/workflows/e2e-kind.yml)",
        problems.join("; ")
    ))
}

/// The first executable file `name` in the directories of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
