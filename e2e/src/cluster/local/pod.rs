//! One local pod: a network namespace plugged into the cluster's bridge, the sidecar
//! (redirect rules, then `mesh-proxy run`, or `mesh-proxy agent` and Envoy, as uid
//! 1337, with a workload token and the mesh's root certificate) and the app (as uid
//! 1000).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::binaries::Binaries;
use super::netns::Netns;
use super::process::{Ids, NetnsProcess};
use crate::cluster::spec::{EXCLUDE_INBOUND_PORTS, EXCLUDE_OUTBOUND_PORTS};
use crate::cluster::{ClusterError, PodSpec, SidecarProxy};

/// The app's user, an ordinary one: its traffic is what the redirect rules capture.
pub(super) const APP_IDS: Ids = Ids {
    uid: 1000,
    gid: 1000,
};
/// The proxy's user, which the redirect rules exempt (Istio's 1337).
pub(super) const PROXY_IDS: Ids = Ids {
    uid: 1337,
    gid: 1337,
};
/// The sidecar's health endpoint (Istio's 15021).
const PROXY_READY_URL: &str = "http://127.0.0.1:15021/healthz/ready";
/// Envoy's readiness on its admin port.
const ENVOY_ADMIN_PORT: u16 = 15000;
const ENVOY_READY_URL: &str = "http://127.0.0.1:15000/ready";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running pod. Dropping it stops the app, then the sidecar, then removes the
/// namespace (and with it the veth).
#[derive(Debug)]
pub(super) struct LocalPod {
    pub(super) spec: PodSpec,
    pub(super) ip: Ipv4Addr,
    app: Option<NetnsProcess>,
    proxy: Option<NetnsProcess>,
    /// `mesh-proxy agent`, Envoy's certificates (Envoy sidecars only).
    agent: Option<NetnsProcess>,
    pub(super) netns: Netns,
}

/// What every pod start needs from the cluster.
#[derive(Debug)]
pub(super) struct PodContext<'a> {
    pub(super) binaries: &'a Binaries,
    pub(super) logs: &'a Path,
    /// The control plane's TLS port (15012): xDS and certificates.
    pub(super) xds_tls: SocketAddr,
    /// The mesh's root certificate, which proxies verify the control plane with.
    pub(super) root_cert: &'a Path,
    /// Where each pod's own files go (`<dir>/<name>.<namespace>/`).
    pub(super) pods_dir: &'a Path,
    /// `--cert-ttl` for the sidecars, when not the default.
    pub(super) cert_ttl: Option<Duration>,
}

/// What a sidecar proves its identity with, written for uid 1337 to read.
struct IdentityFiles {
    dir: std::path::PathBuf,
    token: String,
    root_cert: String,
}

/// The identity flags `mesh-proxy run` and `mesh-proxy agent` share.
fn identity_args(ctx: &PodContext<'_>, files: &IdentityFiles) -> Vec<String> {
    let mut args = vec![
        "--xds-address".to_string(),
        ctx.xds_tls.to_string(),
        "--token-file".to_string(),
        files.token.clone(),
        "--root-cert".to_string(),
        files.root_cert.clone(),
    ];
    if let Some(ttl) = ctx.cert_ttl {
        args.extend(["--cert-ttl".to_string(), format!("{}s", ttl.as_secs())]);
    }
    args
}

impl LocalPod {
    /// Creates the namespace, its `/etc/netns` files and the veth `veth` (bridge side)
    /// to `eth0` (pod side, address `ip/prefix_len`, default route via `gateway`).
    pub(super) fn create(
        spec: PodSpec,
        netns_name: &str,
        bridge: &Netns,
        veth: &str,
        (ip, prefix_len, gateway): (Ipv4Addr, u8, Ipv4Addr),
    ) -> Result<LocalPod, ClusterError> {
        let netns = Netns::create(netns_name)?;
        bridge.ip(&[
            "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns_name,
        ])?;
        bridge.ip(&["link", "set", veth, "master", "br0", "up"])?;
        let cidr = format!("{ip}/{prefix_len}");
        netns.ip(&["addr", "add", &cidr, "dev", "eth0"])?;
        netns.ip(&["link", "set", "eth0", "up"])?;
        // Everything off-subnet (service VIPs too) goes to the bridge, which routes
        // nowhere: without a sidecar a VIP is unreachable, as without kube-proxy.
        netns.ip(&["route", "add", "default", "via", &gateway.to_string()])?;
        Ok(LocalPod {
            spec,
            ip,
            app: None,
            proxy: None,
            agent: None,
            netns,
        })
    }

    /// Installs the redirect rules (as root, like `istio-init`), starts the sidecar as
    /// uid 1337 with `token` (a workload token from the control plane) and waits until
    /// it is ready: `mesh-proxy run`, or for an Envoy pod `mesh-proxy agent` (SDS on a
    /// Unix socket) and Envoy bootstrapped by `meshctl bootstrap envoy`.
    pub(super) async fn start_sidecar(
        &mut self,
        ctx: &PodContext<'_>,
        token: &str,
    ) -> Result<(), ClusterError> {
        let proxy = ctx.binaries.resolve("mesh-proxy");
        let mut redirect = vec![proxy.clone(), "redirect".to_string()];
        for (annotation, flag) in [
            (EXCLUDE_OUTBOUND_PORTS, "--exclude-outbound-ports"),
            (EXCLUDE_INBOUND_PORTS, "--exclude-inbound-ports"),
        ] {
            if let Some(ports) = self.spec.annotations.get(annotation) {
                redirect.extend([flag.to_string(), ports.clone()]);
            }
        }
        let redirect: Vec<&str> = redirect.iter().map(String::as_str).collect();
        self.netns
            .run(&redirect)
            .map_err(|e| self.error(format!("installing the redirect rules: {e}")))?;
        let files = self.identity_files(ctx, token)?;
        let ready_url = match self.spec.proxy {
            SidecarProxy::MeshProxy => {
                self.start_mesh_proxy(ctx, &proxy, &files)?;
                PROXY_READY_URL
            }
            SidecarProxy::Envoy => {
                self.start_envoy(ctx, &proxy, &files).await?;
                ENVOY_READY_URL
            }
        };
        self.wait_ready(ctx, ready_url).await
    }

    /// The token and root certificate in the pod's own directory, owned by the proxy's
    /// user (the token is a secret: 0600).
    fn identity_files(
        &self,
        ctx: &PodContext<'_>,
        token: &str,
    ) -> Result<IdentityFiles, ClusterError> {
        use std::os::unix::fs::PermissionsExt as _;
        let id = &self.spec.pod;
        let dir = ctx.pods_dir.join(format!("{}.{}", id.name, id.namespace));
        let io = |what: &str, e: std::io::Error| self.error(format!("{what}: {e}"));
        std::fs::create_dir_all(&dir).map_err(|e| io("create the pod directory", e))?;
        let token_file = dir.join("token");
        let root_cert = dir.join("root-cert.pem");
        std::fs::write(&token_file, token).map_err(|e| io("write the token", e))?;
        std::fs::copy(ctx.root_cert, &root_cert).map_err(|e| io("copy the root certificate", e))?;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("chmod the token", e))?;
        for path in [&dir, &token_file, &root_cert] {
            std::os::unix::fs::chown(path, Some(PROXY_IDS.uid), Some(PROXY_IDS.gid))
                .map_err(|e| io("chown the pod's files", e))?;
        }
        Ok(IdentityFiles {
            token: token_file.to_string_lossy().into_owned(),
            root_cert: root_cert.to_string_lossy().into_owned(),
            dir,
        })
    }

    fn start_mesh_proxy(
        &mut self,
        ctx: &PodContext<'_>,
        proxy: &str,
        files: &IdentityFiles,
    ) -> Result<(), ClusterError> {
        let id = &self.spec.pod;
        let mut argv: Vec<String> = vec![proxy.to_string(), "run".to_string()];
        argv.extend(identity_args(ctx, files));
        argv.extend(
            [
                "--workload",
                &format!("{}.{}", id.name, id.namespace),
                "--ip",
                &self.ip.to_string(),
                "--labels",
                &self.spec.labels_arg(),
                "--service-account",
                &self.spec.service_account,
            ]
            .map(String::from),
        );
        let log = ctx
            .logs
            .join(format!("{}.{}.proxy.log", id.name, id.namespace));
        let env = [("MESH_LOG".to_string(), "info".to_string())];
        let what = format!("sidecar of {id}");
        self.proxy = Some(NetnsProcess::spawn(
            &what,
            self.netns.name(),
            Some(PROXY_IDS),
            &argv,
            &env,
            &log,
        )?);
        Ok(())
    }

    /// `mesh-proxy agent` (certificates over SDS), then Envoy with a bootstrap that
    /// points at it and at the control plane's TLS port.
    async fn start_envoy(
        &mut self,
        ctx: &PodContext<'_>,
        proxy: &str,
        files: &IdentityFiles,
    ) -> Result<(), ClusterError> {
        let id = &self.spec.pod;
        let workload = format!("{}.{}", id.name, id.namespace);
        let socket = files.dir.join("sds.sock").to_string_lossy().into_owned();
        let mut agent: Vec<String> = vec![proxy.to_string(), "agent".to_string()];
        agent.extend(identity_args(ctx, files));
        agent.extend(
            [
                "--workload",
                &workload,
                "--service-account",
                &self.spec.service_account,
                "--sds-socket",
                &socket,
            ]
            .map(String::from),
        );
        let env = [("MESH_LOG".to_string(), "info".to_string())];
        let log = ctx.logs.join(format!("{workload}.agent.log"));
        self.agent = Some(NetnsProcess::spawn(
            &format!("agent of {id}"),
            self.netns.name(),
            Some(PROXY_IDS),
            &agent,
            &env,
            &log,
        )?);
        let bootstrap = ctx.binaries.bootstrap_envoy(&[
            "--workload",
            &workload,
            "--ip",
            &self.ip.to_string(),
            "--xds-address",
            &ctx.xds_tls.to_string(),
            "--sds-socket",
            &socket,
            "--labels",
            &self.spec.labels_arg(),
            "--service-account",
            &self.spec.service_account,
            "--admin-port",
            &ENVOY_ADMIN_PORT.to_string(),
        ])?;
        let config = files.dir.join("envoy.json");
        std::fs::write(&config, bootstrap)
            .map_err(|e| self.error(format!("write the Envoy bootstrap: {e}")))?;
        let envoy = ctx.binaries.envoy()?;
        let argv: Vec<String> = [
            envoy.as_str(),
            "-c",
            &config.to_string_lossy(),
            "--use-dynamic-base-id",
            "--disable-hot-restart",
            "--concurrency",
            "2",
            "--log-level",
            "warning",
            "--drain-time-s",
            "1",
        ]
        .map(String::from)
        .to_vec();
        let log = ctx.logs.join(format!("{workload}.envoy.log"));
        self.proxy = Some(NetnsProcess::spawn(
            &format!("Envoy sidecar of {id}"),
            self.netns.name(),
            Some(PROXY_IDS),
            &argv,
            &[],
            &log,
        )?);
        Ok(())
    }

    /// Polls `url` from inside the pod until it answers 200.
    async fn wait_ready(&mut self, ctx: &PodContext<'_>, url: &str) -> Result<(), ClusterError> {
        let probe = [
            ctx.binaries.resolve(crate::cluster::SAMPLE_APP),
            "get".into(),
            url.into(),
        ];
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let exited = [&mut self.proxy, &mut self.agent]
                .into_iter()
                .flatten()
                .find_map(NetnsProcess::exited);
            if let Some(status) = exited {
                let describe = self.describe();
                return Err(self.error(format!("a sidecar process exited ({status})\n{describe}")));
            }
            let probe: Vec<&str> = probe.iter().map(String::as_str).collect();
            let last = match self.netns.run(&probe) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(self.error(format!(
                    "the sidecar is not ready after {START_TIMEOUT:?}: {last}\n{}",
                    self.describe()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts the app as uid 1000 with the downward-API environment and waits until
    /// every declared port listens.
    pub(super) async fn start_app(&mut self, ctx: &PodContext<'_>) -> Result<(), ClusterError> {
        let Some((program, args)) = self.spec.command.split_first() else {
            return Err(self.error("no command: give the pod spec a command".to_string()));
        };
        let mut argv = vec![ctx.binaries.resolve(program)];
        argv.extend(args.iter().cloned());
        let id = &self.spec.pod;
        let mut env: Vec<(String, String)> = [
            ("POD_NAME", id.name.clone()),
            ("POD_NAMESPACE", id.namespace.clone()),
            ("POD_IP", self.ip.to_string()),
            ("SERVICE_ACCOUNT", self.spec.service_account.clone()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec();
        env.extend(self.spec.env.iter().cloned());
        let log = ctx
            .logs
            .join(format!("{}.{}.app.log", id.name, id.namespace));
        let what = format!("app of {id}");
        self.app = Some(NetnsProcess::spawn(
            &what,
            self.netns.name(),
            Some(APP_IDS),
            &argv,
            &env,
            &log,
        )?);
        let ports: Vec<u16> = self.spec.ports.iter().map(|p| p.port).collect();
        let waited = match self.app.as_mut() {
            Some(app) => app.wait_listening(&self.netns, &ports, START_TIMEOUT).await,
            None => Ok(()),
        };
        waited.map_err(|e| self.error(format!("the app {e}\n{}", self.describe())))
    }

    /// Stops the sidecar with SIGTERM, which makes it drain (stop accepting, let open
    /// requests finish), and waits up to `grace`; the app keeps running meanwhile so
    /// that requests in flight to it complete. `false` when no sidecar exited in time.
    pub(super) async fn terminate_sidecar(&mut self, grace: Duration) -> bool {
        match self.proxy.as_mut() {
            Some(proxy) => proxy.terminate(grace).await,
            None => true,
        }
    }

    /// The tails of the app's and the sidecar's logs.
    pub(super) fn describe(&self) -> String {
        [&self.app, &self.proxy, &self.agent]
            .into_iter()
            .flatten()
            .map(|p| p.describe(30))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn error(&self, detail: String) -> ClusterError {
        ClusterError::Pod {
            pod: self.spec.pod.to_string(),
            detail,
        }
    }
}
