//! [`LocalCluster`]: pods as Linux network namespaces on a bridge, with the real
//! binaries (needs root). See `docs/local-cluster.md`.
//!
//! ```text
//!  netns meshlc-<pid>-<n>-br           netns meshlc-<pid>-<n>-<pod>.<ns>
//!  br0 10.77.0.1/16  ◄── veth p<k> ──► eth0 10.77.1.<k>/16, default via 10.77.0.1
//!  mesh-control :15010 (xDS) :15014    app (uid 1000), mesh-proxy (uid 1337)
//! ```
//!
//! Everything lives in namespaces of its own, so clusters run side by side and the
//! host's network is never touched. Names carry `meshlc-<pid>-`; what a killed run
//! left behind is swept at the next start.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::manifest::{self, ClusterIp, ServiceRecord};
use super::{Cluster, ClusterError, ExecOutput, Pod, PodRef, PodSpec, Running, SAMPLE_APP, sync};
use crate::control_plane::dedent;

mod binaries;
mod config_dir;
mod hosts;
mod netns;
mod pod;
mod process;
mod sweep;

use binaries::Binaries;
use config_dir::ConfigDir;
use hosts::{PodEndpoint, hosts_file, resolv_conf};
use netns::Netns;
use pod::{APP_IDS, LocalPod, PodContext};
use process::{Ids, NetnsProcess};

/// The bridge's address: the pods' gateway and the control plane's address.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const PREFIX_LEN: u8 = 16;
/// Pods get 10.77.1.1, 10.77.1.2, …
const FIRST_POD: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// Services without a clusterIP get 10.96.0.10, 10.96.0.11, …
const FIRST_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const XDS_PORT: u16 = 15010;
/// xDS and certificates over TLS: what the sidecars use.
const XDS_TLS_PORT: u16 = 15012;
const DEBUG_PORT: u16 = 15014;
/// A command run in a pod is killed after this long.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a removed pod's endpoints may take to leave every proxy's config.
const ENDPOINT_REMOVAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a removed pod's sidecar may drain (Istio's `terminationDrainDuration`).
const DRAIN_GRACE: Duration = Duration::from_secs(5);

static NEXT_CLUSTER: AtomicU32 = AtomicU32::new(0);

/// A cluster of network-namespace pods with `mesh-control` on the bridge. Dropping it
/// (also during a panic, which prints the logs) kills every process and removes every
/// namespace.
#[derive(Debug)]
pub struct LocalCluster {
    // Dropped in this order: pods before the control plane before the bridge.
    pods: BTreeMap<PodRef, LocalPod>,
    /// `None` while stopped by [`Cluster::stop_control_plane`].
    control_plane: Option<NetnsProcess>,
    control_plane_starts: u32,
    bridge: Netns,
    id: String,
    services: BTreeMap<String, Vec<ServiceRecord>>,
    next_pod: u32,
    next_vip: u32,
    binaries: Binaries,
    config: ConfigDir,
    /// The lifetime sidecars ask for their certificates (`--cert-ttl`); `None`: the
    /// default (24 h).
    cert_ttl: Option<Duration>,
    work: tempfile::TempDir,
}

impl LocalCluster {
    /// Sweeps what dead runs left, then creates the bridge and starts the control
    /// plane on it, with an empty config directory.
    pub async fn start() -> Result<LocalCluster, ClusterError> {
        sweep::sweep_stale();
        let n = NEXT_CLUSTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{}-{n}", sweep::PREFIX, std::process::id());
        let work = tempfile::Builder::new()
            .prefix(&format!("{id}-"))
            .tempdir()
            .map_err(|e| command_error("create the work directory", e))?;
        for dir in ["config", "logs"] {
            fs::create_dir_all(work.path().join(dir)).map_err(|e| command_error("mkdir", e))?;
        }
        let binaries = Binaries::install(&work.path().join("bin"))?;
        let bridge = Netns::create(&format!("{id}-br"))?;
        bridge.ip(&["link", "add", "br0", "type", "bridge"])?;
        bridge.ip(&[
            "addr",
            "add",
            &format!("{GATEWAY}/{PREFIX_LEN}"),
            "dev",
            "br0",
        ])?;
        bridge.ip(&["link", "set", "br0", "up"])?;
        let log = work.path().join("logs/mesh-control.log");
        write_admin_token(&work.path().join(ADMIN_TOKEN_FILE))?;
        let control_plane =
            Self::spawn_control_plane(&bridge, &binaries, work.path(), &log).await?;
        Ok(LocalCluster {
            pods: BTreeMap::new(),
            control_plane: Some(control_plane),
            control_plane_starts: 1,
            bridge,
            id,
            services: BTreeMap::new(),
            next_pod: 0,
            next_vip: u32::from(FIRST_VIP),
            binaries,
            config: ConfigDir::new(work.path().join("config")),
            cert_ttl: None,
            work,
        })
    }

    /// Sidecars deployed from now on ask for certificates living `ttl` (at least a
    /// minute): they rotate at about half of it.
    pub fn set_workload_cert_ttl(&mut self, ttl: Duration) {
        self.cert_ttl = Some(ttl);
    }

    /// `meshlc-<pid>-<n>`, the prefix of everything this cluster created.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where proxies reach the control plane's xDS server.
    pub fn xds_address(&self) -> SocketAddr {
        SocketAddr::from((GATEWAY, XDS_PORT))
    }

    /// Where `meshctl` reaches the control plane's debug endpoint (from the bridge's
    /// namespace, the first of [`LocalCluster::netns_names`]).
    pub fn debug_address(&self) -> SocketAddr {
        SocketAddr::from((GATEWAY, DEBUG_PORT))
    }

    /// The control plane's config directory (what [`Cluster::apply`] writes into).
    pub fn config_dir(&self) -> PathBuf {
        self.config.path().to_path_buf()
    }

    /// Logs of the control plane and of every pod's app and sidecar.
    pub fn logs_dir(&self) -> PathBuf {
        self.work.path().join("logs")
    }

    /// The network namespaces of the bridge and the pods (`ip netns exec NAME …`).
    pub fn netns_names(&self) -> Vec<String> {
        let mut names = vec![self.bridge.name().to_string()];
        names.extend(self.pods.values().map(|p| p.netns.name().to_string()));
        names
    }

    /// The network namespace of `pod` (`ip netns exec NAME …`), when deployed.
    pub fn pod_netns(&self, pod: &PodRef) -> Option<String> {
        self.pods.get(pod).map(|p| p.netns.name().to_string())
    }

    /// Runs `argv` in the pod as root (for what the app's user may not do, such as
    /// reading iptables).
    pub async fn exec_as_root(
        &self,
        pod: &PodRef,
        argv: &[&str],
    ) -> Result<ExecOutput, ClusterError> {
        let netns = self.pod(pod)?.netns.name().to_string();
        self.exec_in(&netns, None, argv).await
    }

    /// `mesh-control` on the bridge, serving `<work>/config`, once it listens.
    async fn spawn_control_plane(
        bridge: &Netns,
        binaries: &Binaries,
        work: &std::path::Path,
        log: &std::path::Path,
    ) -> Result<NetnsProcess, ClusterError> {
        let config = work.join("config");
        let admin_token = work.join(ADMIN_TOKEN_FILE);
        let argv: Vec<String> = [
            binaries.mesh_control.to_string_lossy().as_ref(),
            "--config-dir",
            &config.to_string_lossy(),
            "--xds-address",
            &SocketAddr::from((GATEWAY, XDS_PORT)).to_string(),
            "--debug-address",
            &SocketAddr::from((GATEWAY, DEBUG_PORT)).to_string(),
            "--xds-tls-address",
            &SocketAddr::from((GATEWAY, XDS_TLS_PORT)).to_string(),
            // The CA beside the config, not in the working directory.
            "--ca-dir",
            &config.join(".ca").to_string_lossy(),
            // Tokens for the pods, minted from the bridge (not a loopback caller).
            "--admin-token-file",
            &admin_token.to_string_lossy(),
        ]
        .map(String::from)
        .to_vec();
        let mut control_plane =
            NetnsProcess::spawn("mesh-control", bridge.name(), None, &argv, &[], log)?;
        control_plane
            .wait_listening(
                bridge,
                &[XDS_PORT, XDS_TLS_PORT, DEBUG_PORT],
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| {
                ClusterError::ControlPlane(format!("{e}\n{}", control_plane.describe(40)))
            })?;
        Ok(control_plane)
    }

    /// A workload token for the pod's sidecar, as `meshctl token create` prints it
    /// (run on the bridge, with the admin token: the control plane is not local).
    async fn workload_token(&self, spec: &PodSpec) -> Result<String, ClusterError> {
        let workload = format!("{}.{}", spec.pod.name, spec.pod.namespace);
        let debug = SocketAddr::from((GATEWAY, DEBUG_PORT)).to_string();
        let admin_token = self.work.path().join(ADMIN_TOKEN_FILE);
        let argv = [
            self.binaries.resolve("meshctl"),
            "token".into(),
            "create".into(),
            "--workload".into(),
            workload,
            "--service-account".into(),
            spec.service_account.clone(),
            "--control-plane".into(),
            debug,
            "--admin-token-file".into(),
            admin_token.to_string_lossy().into_owned(),
        ];
        let out = process::exec(self.bridge.name(), None, &argv, EXEC_TIMEOUT).await?;
        let token = out.stdout.trim();
        if out.status != 0 || token.is_empty() {
            return Err(ClusterError::ControlPlane(format!(
                "meshctl token create for {}: {}",
                spec.pod, out.stderr
            )));
        }
        Ok(token.to_string())
    }

    fn pod(&self, pod: &PodRef) -> Result<&LocalPod, ClusterError> {
        self.pods.get(pod).ok_or_else(|| ClusterError::Pod {
            pod: pod.to_string(),
            detail: "not deployed in this cluster".to_string(),
        })
    }

    async fn exec_in(
        &self,
        netns: &str,
        ids: Option<Ids>,
        argv: &[&str],
    ) -> Result<ExecOutput, ClusterError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(command_error("exec", "give a command to run"));
        };
        let mut resolved = vec![self.binaries.resolve(program)];
        resolved.extend(args.iter().map(|a| a.to_string()));
        process::exec(netns, ids, &resolved, EXEC_TIMEOUT).await
    }

    /// Rewrites every pod's hosts file in place (a rename would escape the bind mount
    /// `ip netns exec` made of it).
    fn refresh_hosts(&self) -> Result<(), ClusterError> {
        let endpoints: Vec<PodEndpoint<'_>> = self
            .pods
            .values()
            .map(|p| PodEndpoint {
                namespace: &p.spec.pod.namespace,
                labels: &p.spec.labels,
                ip: p.ip,
            })
            .collect();
        for pod in self.pods.values() {
            let text = hosts_file(
                &pod.spec.pod,
                pod.ip,
                self.services.values().flatten(),
                &endpoints,
            );
            let path = pod.netns.etc_dir().join("hosts");
            fs::write(&path, text)
                .map_err(|e| command_error(&format!("write {}", path.display()), e))?;
        }
        Ok(())
    }

    fn allocate_vip(next: &mut u32, services: &BTreeMap<String, Vec<ServiceRecord>>) -> Ipv4Addr {
        loop {
            let vip = Ipv4Addr::from(*next);
            *next += 1;
            let taken = services
                .values()
                .flatten()
                .any(|s| s.cluster_ip == ClusterIp::Vip(vip));
            if !taken {
                return vip;
            }
        }
    }
}

impl Cluster for LocalCluster {
    async fn deploy(&mut self, spec: PodSpec) -> Result<Pod, ClusterError> {
        let id = spec.pod.clone();
        if self.pods.contains_key(&id) {
            return Err(ClusterError::Pod {
                pod: id.to_string(),
                detail: "already deployed; remove it first".to_string(),
            });
        }
        let k = self.next_pod;
        self.next_pod += 1;
        let ip = Ipv4Addr::from(u32::from(FIRST_POD) + k);
        let netns_name = format!("{}-{}.{}", self.id, id.name, id.namespace);
        let pod = LocalPod::create(
            spec,
            &netns_name,
            &self.bridge,
            &format!("p{k}"),
            (ip, PREFIX_LEN, GATEWAY),
        )?;
        let resolv = pod.netns.etc_dir().join("resolv.conf");
        fs::write(&resolv, resolv_conf(&id.namespace, GATEWAY))
            .map_err(|e| command_error(&format!("write {}", resolv.display()), e))?;
        let entry_file = workload_entry_file(&id);
        self.config
            .write(&entry_file, &manifest::workload_entry(&pod.spec, ip))?;
        self.pods.insert(id.clone(), pod);
        self.refresh_hosts()?;

        let token = match self.pods.get(&id).filter(|p| p.spec.sidecar) {
            Some(p) => Some(self.workload_token(&p.spec).await?),
            None => None,
        };
        let root_cert = self.work.path().join("config/.ca/root-cert.pem");
        let ctx = PodContext {
            binaries: &self.binaries,
            logs: &self.work.path().join("logs"),
            xds_tls: SocketAddr::from((GATEWAY, XDS_TLS_PORT)),
            root_cert: &root_cert,
            pods_dir: &self.work.path().join("pods"),
            cert_ttl: self.cert_ttl,
        };
        let Some(pod) = self.pods.get_mut(&id) else {
            return Err(command_error("deploy", "the pod vanished while starting"));
        };
        let started = async {
            if let Some(token) = &token {
                pod.start_sidecar(&ctx, token).await?;
            }
            pod.start_app(&ctx).await
        }
        .await;
        if let Err(e) = started {
            self.pods.remove(&id);
            let _ = self.config.remove(&entry_file);
            let _ = self.refresh_hosts();
            return Err(e);
        }
        Ok(Pod {
            id,
            ip: IpAddr::V4(ip),
        })
    }

    async fn remove(&mut self, pod: &PodRef) -> Result<(), ClusterError> {
        self.pod(pod)?;
        // Endpoints first, as Kubernetes does: proxies stop picking the pod before it
        // stops; then the sidecar drains and the app goes (see `terminate_sidecar`).
        let before = match self.control_plane {
            Some(_) => Some(sync::config_version(self).await?),
            None => None,
        };
        self.config.remove(&workload_entry_file(pod))?;
        self.refresh_hosts()?;
        if let Some(before) = before {
            // A proxy that is slow or NACKs does not keep the pod alive: go on.
            let _ = sync::wait_synced(self, before, ENDPOINT_REMOVAL_TIMEOUT).await;
        }
        if let Some(mut local) = self.pods.remove(pod) {
            local.terminate_sidecar(DRAIN_GRACE).await;
        }
        self.refresh_hosts()
    }

    fn spawn(&self, pod: &PodRef, argv: &[&str]) -> Result<Running, ClusterError> {
        let netns = self.pod(pod)?.netns.name().to_string();
        let Some((program, args)) = argv.split_first() else {
            return Err(command_error("spawn", "give a command to run"));
        };
        let mut resolved = vec![self.binaries.resolve(program)];
        resolved.extend(args.iter().map(|a| a.to_string()));
        let output = process::spawn_exec(&netns, Some(APP_IDS), &resolved, EXEC_TIMEOUT)?;
        Ok(Running::new(pod, argv, output))
    }

    async fn stop_control_plane(&mut self) -> Result<(), ClusterError> {
        if let Some(mut control_plane) = self.control_plane.take() {
            control_plane.terminate(Duration::from_secs(5)).await;
        }
        Ok(())
    }

    async fn start_control_plane(&mut self) -> Result<(), ClusterError> {
        if self.control_plane.is_some() {
            return Ok(());
        }
        let n = self.control_plane_starts;
        let log = self.logs_dir().join(format!("mesh-control.{n}.log"));
        let started =
            Self::spawn_control_plane(&self.bridge, &self.binaries, self.work.path(), &log).await?;
        self.control_plane = Some(started);
        self.control_plane_starts += 1;
        Ok(())
    }

    async fn apply(&mut self, file: &str, yaml: &str) -> Result<(), ClusterError> {
        let (next, services) = (&mut self.next_vip, &self.services);
        let prepared = manifest::prepare(&dedent(yaml), || Self::allocate_vip(next, services));
        self.config.write(file, &prepared.yaml)?;
        self.services.insert(file.to_string(), prepared.services);
        self.refresh_hosts()
    }

    async fn delete(&mut self, file: &str) -> Result<(), ClusterError> {
        self.config.remove(file)?;
        self.services.remove(file);
        self.refresh_hosts()
    }

    async fn exec(&self, pod: &PodRef, argv: &[&str]) -> Result<ExecOutput, ClusterError> {
        let netns = self.pod(pod)?.netns.name().to_string();
        self.exec_in(&netns, Some(APP_IDS), argv).await
    }

    async fn proxy_admin(&self, pod: &PodRef, path: &str) -> Result<String, ClusterError> {
        let url = format!("http://127.0.0.1:15000{path}");
        let out = self.exec_as_root(pod, &[SAMPLE_APP, "get", &url]).await?;
        if !out.success() {
            return Err(ClusterError::Pod {
                pod: pod.to_string(),
                detail: format!("sidecar admin {path}: {}", out.stderr.trim()),
            });
        }
        Ok(out.stdout)
    }

    async fn control_plane_debug(&self, path: &str) -> Result<String, ClusterError> {
        let url = format!("http://{GATEWAY}:{DEBUG_PORT}{path}");
        let out = self
            .exec_in(self.bridge.name(), None, &[SAMPLE_APP, "get", &url])
            .await?;
        if !out.success() {
            return Err(ClusterError::ControlPlane(format!(
                "{path}: {}",
                out.stderr.trim()
            )));
        }
        Ok(out.stdout)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(control_plane) = &self.control_plane {
                eprintln!("{}", control_plane.describe(40));
            }
            for pod in self.pods.values() {
                eprintln!("{}", pod.describe());
            }
        }
    }
}

/// The control plane's admin token (`--admin-token-file`), in the work directory.
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A random admin token, readable by root only.
fn write_admin_token(path: &std::path::Path) -> Result<(), ClusterError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut bytes = [0u8; 24];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| command_error("read /dev/urandom", e))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    fs::write(path, token).map_err(|e| command_error("write the admin token", e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| command_error("chmod the admin token", e))
}

fn workload_entry_file(pod: &PodRef) -> String {
    format!("pod.{}.{}.yaml", pod.namespace, pod.name)
}

fn command_error(command: &str, detail: impl ToString) -> ClusterError {
    ClusterError::Command {
        command: command.to_string(),
        detail: detail.to_string(),
    }
}
