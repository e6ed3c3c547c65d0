//! The processes under test and the one that configures them: `mesh-control` on the
//! node, and a sidecar per pod — mesh-proxy or Envoy, both as uid 1337 behind the
//! pod's `mesh-proxy redirect` rules, both fed by the same control plane. With mTLS
//! both get their certificates from its CA: mesh-proxy itself, Envoy through
//! `mesh-proxy agent` over SDS, as in a meshed pod.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::net::{NODE_IP, Netns, Process, path_str};

/// The config directory's single file: the Service the client calls and the server
/// pod as its WorkloadEntry.
const CONFIG: &str = "\
apiVersion: v1
kind: Service
metadata: {name: bench, namespace: bench}
spec:
  clusterIP: 10.96.0.90
  selector: {app: bench-server}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: server-0, namespace: bench}
spec:
  address: 10.211.0.20
  serviceAccount: bench-server
  labels: {app: bench-server, security.istio.io/tlsMode: istio}
";

/// One request per upstream connection (sidecar to sidecar): every request is a new
/// connection, with mTLS a full handshake.
const NEW_CONNECTION_PER_REQUEST: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bench, namespace: bench}
spec:
  host: bench.bench.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http: {maxRequestsPerConnection: 1}
";

/// What the client calls: the Service's VIP, captured by the client pod's rules.
pub(crate) const SERVICE_URL: &str = "http://10.96.0.90:8080/";
const XDS_PORT: u16 = 15010;
const XDS_TLS_PORT: u16 = 15012;
/// Both proxies' admin port, on 127.0.0.1 of their own pod.
const ADMIN_READY: &str = "http://127.0.0.1:15000/ready";

/// Which sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    MeshProxy,
    Envoy,
}

/// Where the binaries are; the bench runs release builds of ours.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) mesh_control: PathBuf,
    pub(crate) mesh_proxy: PathBuf,
    pub(crate) meshctl: PathBuf,
    pub(crate) envoy: PathBuf,
}

/// Who a sidecar is for: its pod, address and labels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Workload {
    pub(crate) name: &'static str,
    pub(crate) ip: &'static str,
    pub(crate) labels: &'static str,
    pub(crate) service_account: &'static str,
}

/// What a sidecar with an identity needs: the node (where `meshctl token create` asks
/// the control plane, as a local caller) and the mesh's root certificate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mtls<'a> {
    pub(crate) node: &'a Netns,
    pub(crate) ca_dir: &'a Path,
}

/// A running sidecar: the proxy measured, and Envoy's agent beside it.
#[derive(Debug)]
pub(crate) struct Sidecar {
    pub(crate) proxy: Process,
    _agent: Option<Process>,
}

/// What both proxies are given: `concurrency` is Envoy's `--concurrency` and
/// mesh-proxy's, the worker threads of each.
#[derive(Debug, Clone)]
pub(crate) struct SidecarSettings {
    pub(crate) concurrency: usize,
    /// `MESH_LOG` for mesh-proxy: per-request access lines off, as Envoy has none here.
    pub(crate) mesh_log: String,
}

impl ProxyKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProxyKind::MeshProxy => "mesh-proxy",
            ProxyKind::Envoy => "envoy",
        }
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Writes the config and starts mesh-control on the node, serving xDS on the bridge.
pub(crate) fn start_control_plane(
    node: &Netns,
    bin: &Binaries,
    dir: &Path,
) -> Result<Process, String> {
    let config_dir = dir.join("config");
    fs::create_dir_all(&config_dir).map_err(|e| format!("create {}: {e}", config_dir.display()))?;
    fs::write(config_dir.join("bench.yaml"), CONFIG)
        .map_err(|e| format!("write the bench config: {e}"))?;
    let xds = format!("{NODE_IP}:{XDS_PORT}");
    let mut process = node.spawn(
        "mesh-control",
        &[
            path_str(&bin.mesh_control)?,
            "--config-dir",
            path_str(&config_dir)?,
            "--xds-address",
            &xds,
            "--debug-address",
            "127.0.0.1:15014",
            "--xds-tls-address",
            &format!("{NODE_IP}:{XDS_TLS_PORT}"),
            // The CA beside the config, not in the working directory.
            "--ca-dir",
            path_str(&ca_dir(dir))?,
        ],
        false,
        &[],
        &dir.join("mesh-control.log"),
    )?;
    node.wait_http_ok(
        "http://127.0.0.1:15014/healthz/ready",
        Duration::from_secs(20),
    )
    .map_err(|e| with_log(&mut process, e))?;
    Ok(process)
}

/// The CA's directory (its root certificate is what sidecars verify 15012 with).
pub(crate) fn ca_dir(dir: &Path) -> PathBuf {
    dir.join("ca")
}

/// Makes every sidecar-to-sidecar request open its own connection (or stops that).
pub(crate) fn new_connection_per_request(dir: &Path, on: bool) -> Result<(), String> {
    let file = dir.join("config/new-connection-per-request.yaml");
    let written = if on {
        fs::write(&file, NEW_CONNECTION_PER_REQUEST)
    } else {
        fs::remove_file(&file)
    };
    written.map_err(|e| format!("{}: {e}", file.display()))
}

/// Starts `kind` as `workload`'s sidecar in `pod` and waits until it is ready (first
/// complete xDS sync); with `mtls`, on the control plane's TLS port with a workload
/// token, and (Envoy) `mesh-proxy agent` serving its certificates.
pub(crate) fn start_sidecar(
    kind: ProxyKind,
    pod: &Netns,
    workload: Workload,
    bin: &Binaries,
    settings: &SidecarSettings,
    dir: &Path,
    mtls: Option<Mtls<'_>>,
) -> Result<Sidecar, String> {
    let name = format!("{kind} {}", workload.name);
    let log = dir.join(format!("{kind}-{}.log", workload.name));
    let full_name = format!("{}.bench", workload.name);
    let concurrency = settings.concurrency.to_string();
    let identity = match mtls {
        Some(mtls) => Some(identity_files(mtls, bin, workload, &full_name, dir)?),
        None => None,
    };
    let (xds, identity_args) = match &identity {
        Some((token, root)) => (
            format!("{NODE_IP}:{XDS_TLS_PORT}"),
            vec![
                "--token-file".to_string(),
                token.clone(),
                "--root-cert".to_string(),
                root.clone(),
            ],
        ),
        None => (format!("{NODE_IP}:{XDS_PORT}"), Vec::new()),
    };
    let identity_args: Vec<&str> = identity_args.iter().map(String::as_str).collect();
    let mut agent = None;
    let mut process = match kind {
        ProxyKind::MeshProxy => {
            let mut argv = vec![
                path_str(&bin.mesh_proxy)?,
                "run",
                "--xds-address",
                &xds,
                "--workload",
                &full_name,
                "--ip",
                workload.ip,
                "--labels",
                workload.labels,
                "--service-account",
                workload.service_account,
                "--concurrency",
                &concurrency,
            ];
            argv.extend_from_slice(&identity_args);
            pod.spawn(
                &name,
                &argv,
                true,
                &[("MESH_LOG", settings.mesh_log.as_str())],
                &log,
            )?
        }
        ProxyKind::Envoy => {
            // In the workload's own directory: the agent (uid 1337) creates it.
            let socket = workload_dir(dir, workload)?.join("sds.sock");
            let sds = identity.as_ref().map(|_| socket.clone());
            if identity.is_some() {
                let mut argv = vec![
                    path_str(&bin.mesh_proxy)?,
                    "agent",
                    "--xds-address",
                    &xds,
                    "--workload",
                    &full_name,
                    "--service-account",
                    workload.service_account,
                    "--sds-socket",
                    path_str(&socket)?,
                ];
                argv.extend_from_slice(&identity_args);
                agent = Some(pod.spawn(
                    &format!("agent {}", workload.name),
                    &argv,
                    true,
                    &[("MESH_LOG", "info")],
                    &dir.join(format!("agent-{}.log", workload.name)),
                )?);
            }
            let config = envoy_bootstrap(bin, workload, &full_name, &xds, sds.as_deref(), dir)?;
            pod.spawn(
                &name,
                &[
                    path_str(&bin.envoy)?,
                    "-c",
                    path_str(&config)?,
                    "--concurrency",
                    &concurrency,
                    "--disable-hot-restart",
                    "--log-level",
                    "warning",
                ],
                true,
                &[],
                &log,
            )?
        }
    };
    pod.wait_http_ok(ADMIN_READY, Duration::from_secs(30))
        .map_err(|e| with_log(&mut process, e))?;
    Ok(Sidecar {
        proxy: process,
        _agent: agent,
    })
}

/// A workload token (from the control plane, asked on the node as a local caller)
/// and the root certificate, where uid 1337 can read them.
fn identity_files(
    mtls: Mtls<'_>,
    bin: &Binaries,
    workload: Workload,
    full_name: &str,
    dir: &Path,
) -> Result<(String, String), String> {
    let token = mtls.node.exec(&[
        path_str(&bin.meshctl)?,
        "token",
        "create",
        "--workload",
        full_name,
        "--service-account",
        workload.service_account,
        "--control-plane",
        "127.0.0.1:15014",
    ])?;
    let own = workload_dir(dir, workload)?;
    let token_file = own.join("token");
    let root = own.join("root-cert.pem");
    fs::write(&token_file, token.trim()).map_err(|e| format!("write the token: {e}"))?;
    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod the token: {e}"))?;
    fs::copy(mtls.ca_dir.join("root-cert.pem"), &root)
        .map_err(|e| format!("copy the root certificate: {e}"))?;
    for path in [&token_file, &root] {
        std::os::unix::fs::chown(path, Some(1337), Some(1337))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    Ok((
        path_str(&token_file)?.to_string(),
        path_str(&root)?.to_string(),
    ))
}

/// A directory of the workload's own, owned by uid 1337 (its token, its SDS socket).
fn workload_dir(dir: &Path, workload: Workload) -> Result<PathBuf, String> {
    let own = dir.join(format!("pod-{}", workload.name));
    fs::create_dir_all(&own).map_err(|e| format!("create {}: {e}", own.display()))?;
    std::os::unix::fs::chown(&own, Some(1337), Some(1337))
        .map_err(|e| format!("chown {}: {e}", own.display()))?;
    Ok(own)
}

/// `meshctl bootstrap envoy` for the workload, written where uid 1337 can read it.
fn envoy_bootstrap(
    bin: &Binaries,
    workload: Workload,
    full_name: &str,
    xds: &str,
    sds_socket: Option<&Path>,
    dir: &Path,
) -> Result<PathBuf, String> {
    let mut command = std::process::Command::new(&bin.meshctl);
    command
        .args(["bootstrap", "envoy", "--workload", full_name])
        .args(["--ip", workload.ip, "--xds-address", xds])
        .args(["--admin-port", "15000", "--labels", workload.labels])
        .args(["--service-account", workload.service_account]);
    if let Some(socket) = sds_socket {
        command.arg("--sds-socket").arg(socket);
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot run meshctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "meshctl bootstrap envoy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let path = dir.join(format!("envoy-{}.json", workload.name));
    fs::write(&path, &out.stdout).map_err(|e| format!("write {}: {e}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    Ok(path)
}

/// `e` followed by the end of the process's log (or why it exited).
fn with_log(process: &mut Process, e: String) -> String {
    match process.check_running() {
        Err(exited) => format!("{e}\n{exited}"),
        Ok(()) => format!(
            "{e}\nthe end of {}'s log:\n{}",
            process.name(),
            process.log_tail(30)
        ),
    }
}
