//! One test's mesh: a control plane, echo-server workloads behind Services, and a
//! client workload whose real Envoy the test sends requests through.
//!
//! Addresses: every mesh gets its own 127.A.B.0/24 (A from the process id, B a
//! counter), so tests run in parallel without port clashes: the control plane is on
//! .1, the client's Envoy on .2, echo workloads from .10 and service VIPs from .200.
//!
//! Without iptables nothing redirects the client's traffic to Envoy's
//! `virtualOutbound` (original destination needs a REDIRECT rule), so the client gets
//! Istio's no-capture setup and dials its sidecar directly; `MESH_E2E_OUTBOUND`
//! chooses where ([`OutboundAccess`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::envoy::{EntryListener, EnvoyWorkload};
use crate::http::{Call, HttpClient, Reply};
use crate::mesh_proxy::{MeshProxyProcess, MeshProxyWorkload};
use crate::prerequisites::{self, Prerequisite};
use crate::{ControlPlane, EchoServer, EnvoyProcess, eventually, tools};

/// The namespace every test object lives in.
pub const NAMESPACE: &str = "e2e";
/// The port every test service listens on (named `http`).
pub const SERVICE_PORT: u16 = 8080;
/// Port of the client's entry listener ([`OutboundAccess::EntryListener`]).
pub const ENTRY_PORT: u16 = SERVICE_PORT + 10_000;

/// How the client reaches the control plane's outbound routes (`MESH_E2E_OUTBOUND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundAccess {
    /// `sidecar` (default): a `Sidecar` egress listener with `captureMode: NONE` and
    /// `bind: <client ip>` (every test's config has it), for which the control plane
    /// emits listener `<client ip>_8080`, bound: everything is the control plane's.
    SidecarBind,
    /// `entry`: a static listener the harness adds to the bootstrap on
    /// `<client ip>:18080` that takes route config `"8080"` over RDS (see
    /// [`EntryListener`]): routes, clusters and endpoints are the control plane's, the
    /// listener is not. For telling a listener problem from a route problem.
    EntryListener,
    /// `vip`: the service's VIP on 8080, for listeners bound per service address.
    ServiceVip,
}

impl OutboundAccess {
    /// From `MESH_E2E_OUTBOUND`.
    pub fn from_env() -> OutboundAccess {
        match std::env::var("MESH_E2E_OUTBOUND").as_deref() {
            Ok("entry") => OutboundAccess::EntryListener,
            Ok("vip") => OutboundAccess::ServiceVip,
            _ => OutboundAccess::SidecarBind,
        }
    }
}

/// A backend workload of a service: its name and extra labels (e.g. `version=v1`).
#[derive(Debug, Clone)]
pub struct Backend {
    pub workload: String,
    pub labels: Vec<(String, String)>,
}

impl Backend {
    /// A workload `name` with label `version=<version>`.
    pub fn version(name: &str, version: &str) -> Backend {
        Backend {
            workload: name.to_string(),
            labels: vec![("version".to_string(), version.to_string())],
        }
    }
}

/// One test's mesh; everything in it stops when it is dropped.
#[derive(Debug)]
pub struct Mesh {
    prefix: String,
    envoy_bin: PathBuf,
    client: Option<EnvoyProcess>,
    mesh_proxy: Option<MeshProxyProcess>,
    echoes: BTreeMap<String, EchoServer>,
    services: BTreeMap<String, u8>,
    next_host: u8,
    http: HttpClient,
    // Dropped last: the proxies go before the control plane they talk to.
    cp: ControlPlane,
}

impl Mesh {
    /// Starts the control plane with the client's `Sidecar`; `None` when Envoy is not
    /// installed and the test may skip (see [`prerequisites::met`]).
    pub async fn start(test: &str) -> Option<Mesh> {
        if !prerequisites::met_by(test, &[Prerequisite::Envoy]) {
            return None;
        }
        let envoy_bin = tools::envoy().expect("Envoy is a prerequisite checked above");
        let prefix = subnet();
        let config = tempfile::tempdir().expect("temp config dir");
        crate::control_plane::write_config(config.path(), "client.yaml", &client_yaml(&prefix));
        let cp = ControlPlane::start(&format!("{prefix}.1"), config).await;
        Some(Mesh {
            prefix,
            envoy_bin,
            client: None,
            mesh_proxy: None,
            echoes: BTreeMap::new(),
            services: BTreeMap::new(),
            next_host: 10,
            http: HttpClient::new(),
            cp,
        })
    }

    /// Address `host` of this mesh's subnet: `127.A.B.<host>` (2 is the client).
    pub fn ip(&self, host: u8) -> String {
        format!("{}.{host}", self.prefix)
    }

    /// A fresh workload address of this mesh's subnet, for workloads a test starts
    /// itself (a TCP echo server, a ServiceEntry endpoint).
    pub fn allocate_ip(&mut self) -> String {
        let ip = self.ip(self.next_host);
        self.next_host += 1;
        ip
    }

    pub fn control_plane(&self) -> &ControlPlane {
        &self.cp
    }

    /// The control plane, to stop and restart it.
    pub fn control_plane_mut(&mut self) -> &mut ControlPlane {
        &mut self.cp
    }

    /// The client's Envoy (after `start_client`).
    pub fn client(&self) -> &EnvoyProcess {
        self.client.as_ref().expect("start_client() first")
    }

    /// The client's node id.
    pub fn client_node_id(&self) -> String {
        format!(
            "sidecar~{}.2~client-0.{NAMESPACE}~{NAMESPACE}.svc.cluster.local",
            self.prefix
        )
    }

    /// Starts the client's Envoy (State-of-the-World ADS, or Delta with `delta`).
    pub async fn start_client(&mut self, delta: bool) {
        let mut workload = EnvoyWorkload {
            workload: format!("client-0.{NAMESPACE}"),
            ip: format!("{}.2", self.prefix),
            labels: vec![("app".to_string(), "client".to_string())],
            service_account: "client".to_string(),
            delta,
            entry_listeners: Vec::new(),
        };
        if OutboundAccess::from_env() == OutboundAccess::EntryListener {
            workload.entry_listeners.push(EntryListener {
                addr: format!("{}.2:{ENTRY_PORT}", self.prefix)
                    .parse()
                    .expect("address"),
                route_config: SERVICE_PORT.to_string(),
            });
        }
        self.wait_config_loaded().await;
        let envoy = EnvoyProcess::start(&self.envoy_bin, &workload, self.cp.xds_addr()).await;
        envoy.wait_live().await;
        self.client = Some(envoy);
    }

    /// Waits until the control plane has loaded every object of the config directory
    /// (`objects` of `/debug/config`), so that a proxy started now gets the whole
    /// config in its first push, not a half-read directory.
    pub async fn wait_config_loaded(&self) {
        let expected = objects_in(self.cp.config_dir());
        eventually(
            "the control plane to load the config",
            Duration::from_secs(20),
            || async {
                let config = self.cp.debug_json("/debug/config").await?;
                match config.get("objects").and_then(serde_json::Value::as_u64) {
                    Some(n) if n as usize != expected => Err(format!(
                        "{n} objects loaded of {expected}; errors: {}",
                        config["errors"]
                    )),
                    // Equal, or a control plane that does not report it: nothing to wait for.
                    _ => Ok(()),
                }
            },
        )
        .await;
    }

    /// Adds Service `name` (port 8080, selector `app=<name>`) and starts an echo server
    /// for each backend, each with its own WorkloadEntry file.
    pub async fn add_service(&mut self, name: &str, backends: &[Backend]) {
        let vip = 200 + u8::try_from(self.services.len()).expect("fewer than 50 services");
        self.services.insert(name.to_string(), vip);
        self.cp.apply(
            &format!("service-{name}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {NAMESPACE}}}\n\
                 spec:\n  clusterIP: {prefix}.{vip}\n  selector: {{app: {name}}}\n  \
                 ports: [{{name: http, port: {SERVICE_PORT}, targetPort: {SERVICE_PORT}}}]\n",
                prefix = self.prefix
            ),
        );
        for backend in backends {
            self.add_backend(name, backend).await;
        }
    }

    /// Starts an echo server for `backend` and writes its WorkloadEntry (selected by
    /// Service `service`) to its own file, `workload-<name>.yaml`.
    pub async fn add_backend(&mut self, service: &str, backend: &Backend) {
        let ip = format!("{}.{}", self.prefix, self.next_host);
        self.next_host += 1;
        let addr: SocketAddr = format!("{ip}:{SERVICE_PORT}").parse().expect("address");
        let echo = EchoServer::start(&backend.workload, addr)
            .await
            .unwrap_or_else(|e| panic!("echo server on {addr}: {e}"));
        self.echoes.insert(backend.workload.clone(), echo);
        let labels = std::iter::once(format!("app: {service}"))
            .chain(backend.labels.iter().map(|(k, v)| format!("{k}: {v}")))
            .collect::<Vec<_>>()
            .join(", ");
        self.cp.apply(
            &format!("workload-{}.yaml", backend.workload),
            &format!(
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
                 metadata: {{name: {name}, namespace: {NAMESPACE}}}\n\
                 spec:\n  address: {ip}\n  labels: {{{labels}}}\n  \
                 serviceAccount: {service}\n  ports: {{http: {SERVICE_PORT}}}\n",
                name = backend.workload
            ),
        );
    }

    /// Removes a backend's WorkloadEntry; its echo server keeps running (as a pod that
    /// is being deleted would), so only the control plane can stop traffic to it.
    pub fn remove_backend(&self, workload: &str) {
        self.cp.delete(&format!("workload-{workload}.yaml"));
    }

    /// The echo server of `workload`.
    pub fn echo(&self, workload: &str) -> &EchoServer {
        &self.echoes[workload]
    }

    /// Writes a config file (VirtualServices, DestinationRules, …) into the config dir;
    /// the YAML may be indented as a whole.
    pub fn apply(&self, file: &str, yaml: &str) {
        self.cp.apply(file, yaml);
    }

    /// The FQDN of a test service, the Host the client sends.
    pub fn host(&self, service: &str) -> String {
        format!("{service}.{NAMESPACE}.svc.cluster.local")
    }

    /// Where the client sends a request for `service` ([`OutboundAccess`]).
    pub fn outbound_addr(&self, service: &str) -> SocketAddr {
        let (host, port) = match OutboundAccess::from_env() {
            OutboundAccess::SidecarBind => (2, SERVICE_PORT),
            OutboundAccess::EntryListener => (2, ENTRY_PORT),
            OutboundAccess::ServiceVip => (
                self.services.get(service).copied().unwrap_or(2),
                SERVICE_PORT,
            ),
        };
        format!("{}.{host}:{port}", self.prefix)
            .parse()
            .expect("address")
    }

    /// A GET for `path` on `service` (Host: its FQDN).
    pub fn get(&self, service: &str, path: &str) -> Call {
        Call::get(&self.host(service), path)
    }

    /// Where a call goes: the outbound address of the service its Host names.
    fn addr_of(&self, call: &Call) -> SocketAddr {
        let service = call.host.split(['.', ':']).next().unwrap_or_default();
        self.outbound_addr(service)
    }

    /// Sends `call` through the client's Envoy.
    pub async fn send(&self, call: &Call) -> Result<Reply, String> {
        self.http.send(self.addr_of(call), call).await
    }

    /// Sends `call` through the client's Envoy; a transport error fails the test.
    pub async fn reply(&self, call: &Call) -> Reply {
        self.send(call).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends `call` `n` times, 8 at a time; a transport error fails the test.
    pub async fn replies(&self, call: &Call, n: usize) -> Vec<Reply> {
        self.http
            .send_many(self.addr_of(call), call, n, 8)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends `call` `n` times (8 at a time) and counts the answering workloads; a reply
    /// that is not a 200 from an echo server fails the test.
    pub async fn count_workloads(&self, call: &Call, n: usize) -> BTreeMap<String, u64> {
        self.try_count_workloads(call, n)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As `count_workloads`, with an error instead of a panic (for polling).
    pub async fn try_count_workloads(
        &self,
        call: &Call,
        n: usize,
    ) -> Result<BTreeMap<String, u64>, String> {
        let replies = self.http.send_many(self.addr_of(call), call, n, 8).await?;
        let mut counts = BTreeMap::new();
        for reply in replies {
            if reply.status != 200 {
                return Err(format!(
                    "{} {}: {} {}",
                    call.method, call.path, reply.status, reply.body
                ));
            }
            let workload = reply.workload().unwrap_or("<none>").to_string();
            *counts.entry(workload).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// The workload answering `call`, asserting a 200.
    pub async fn answered_by(&self, call: &Call) -> String {
        let reply = self.reply(call).await;
        assert_eq!(reply.status, 200, "{call:?}: {}", reply.body);
        reply.workload().unwrap_or("<none>").to_string()
    }

    /// Waits (up to 20 s) until `call` is answered by `workload`: the config reached Envoy.
    pub async fn wait_routed_to(&self, call: &Call, workload: &str) -> Reply {
        self.wait_routed(None, call, workload).await
    }

    /// As [`Mesh::wait_routed_to`], through mesh-proxy's listener at `mesh_proxy`.
    pub async fn wait_routed_to_via(
        &self,
        mesh_proxy: SocketAddr,
        call: &Call,
        workload: &str,
    ) -> Reply {
        self.wait_routed(Some(mesh_proxy), call, workload).await
    }

    async fn wait_routed(&self, via: Option<SocketAddr>, call: &Call, workload: &str) -> Reply {
        let what = format!("{} {} to reach {workload}", call.method, call.path);
        eventually(&what, Duration::from_secs(20), || async {
            let reply = match via {
                None => self.send(call).await?,
                Some(addr) => self.send_to(addr, call).await?,
            };
            match reply.workload() {
                Some(w) if w == workload && reply.status == 200 => Ok(reply),
                other => Err(format!("{} from {other:?}: {}", reply.status, reply.body)),
            }
        })
        .await
    }

    /// Waits (up to 20 s) until `call` has been answered only by `allowed` workloads 12
    /// times in a row: before the config is applied, round robin over every backend
    /// breaks such a run.
    pub async fn wait_only(&self, call: &Call, allowed: &[&str]) {
        let what = format!("{} {} to reach only {allowed:?}", call.method, call.path);
        eventually(&what, Duration::from_secs(20), || async {
            for _ in 0..12 {
                let reply = self.send(call).await?;
                match reply.workload() {
                    Some(w) if reply.status == 200 && allowed.contains(&w) => {}
                    other => return Err(format!("{} from {other:?}", reply.status)),
                }
            }
            Ok(())
        })
        .await;
    }

    /// Waits (up to 20 s) until `call` gets `status`.
    pub async fn wait_status(&self, call: &Call, status: u16) -> Reply {
        let what = format!("{} {} to get {status}", call.method, call.path);
        eventually(&what, Duration::from_secs(20), || async {
            let reply = self.send(call).await?;
            if reply.status == status {
                Ok(reply)
            } else {
                Err(format!(
                    "{} from {:?}: {}",
                    reply.status,
                    reply.workload(),
                    reply.body
                ))
            }
        })
        .await
    }

    /// Starts the Envoy client (bound listener) and the mesh-proxy client, and waits
    /// until both route `call` to `workload`; returns the mesh-proxy client's address.
    pub async fn start_clients_routing(&mut self, call: &Call, workload: &str) -> SocketAddr {
        self.start_client(true).await;
        let ours = self.start_mesh_proxy_client().await;
        self.wait_routed_to(call, workload).await;
        self.wait_routed_to_via(ours, call, workload).await;
        ours
    }

    /// Starts `mesh-proxy` as a second client workload, `client-mp-0` on `.3` (label
    /// `app=client-mp`), with its own no-capture Sidecar bound on `.3`: the same
    /// routes, clusters and endpoints as the Envoy client, from the same control
    /// plane. Returns the address its outbound listener takes requests on.
    pub async fn start_mesh_proxy_client(&mut self) -> SocketAddr {
        let ip = format!("{}.3", self.prefix);
        self.cp
            .apply("client-mp.yaml", &mesh_proxy_client_yaml(&ip));
        self.wait_config_loaded().await;
        let workload = MeshProxyWorkload {
            workload: format!("client-mp-0.{NAMESPACE}"),
            ip: ip.clone(),
            labels: vec![("app".to_string(), "client-mp".to_string())],
            service_account: "client".to_string(),
        };
        let proxy = MeshProxyProcess::start(&workload, self.cp.xds_addr()).await;
        proxy.wait_ready().await;
        self.mesh_proxy = Some(proxy);
        // Its first sync may predate the Sidecar that gives it the bound listener.
        let addr: SocketAddr = format!("{ip}:{SERVICE_PORT}").parse().expect("address");
        eventually(
            "mesh-proxy's outbound listener",
            Duration::from_secs(20),
            || async {
                tokio::net::TcpStream::connect(addr)
                    .await
                    .map(drop)
                    .map_err(|e| format!("{addr}: {e}"))
            },
        )
        .await;
        addr
    }

    /// The mesh-proxy client (after `start_mesh_proxy_client`).
    pub fn mesh_proxy(&self) -> &MeshProxyProcess {
        self.mesh_proxy
            .as_ref()
            .expect("start_mesh_proxy_client() first")
    }

    /// Sends `call` to `addr` (e.g. the mesh-proxy client's listener).
    pub async fn send_to(&self, addr: SocketAddr, call: &Call) -> Result<Reply, String> {
        self.http.send(addr, call).await
    }

    /// Sends `call` to `addr` `n` times, 8 at a time; a transport error fails the test.
    pub async fn replies_to(&self, addr: SocketAddr, call: &Call, n: usize) -> Vec<Reply> {
        self.http
            .send_many(addr, call, n, 8)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `meshctl` with `args` against this mesh's control plane; returns stdout.
    pub fn meshctl(&self, args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new(tools::meshctl())
            .args(args)
            .args(["--control-plane", &self.cp.debug_addr().to_string()])
            .env("NO_COLOR", "1")
            .output()
            .map_err(|e| format!("cannot run meshctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "meshctl {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// The client workload: its WorkloadEntry and the no-capture Sidecar.
fn client_yaml(prefix: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
         metadata: {{name: client-0, namespace: {NAMESPACE}}}\n\
         spec: {{address: {prefix}.2, labels: {{app: client}}, serviceAccount: client}}\n\
         ---\n\
         apiVersion: networking.istio.io/v1\nkind: Sidecar\n\
         metadata: {{name: client, namespace: {NAMESPACE}}}\n\
         spec:\n  workloadSelector: {{labels: {{app: client}}}}\n  egress:\n  \
         - port: {{number: {SERVICE_PORT}, protocol: HTTP, name: http}}\n    \
         bind: {prefix}.2\n    captureMode: NONE\n    hosts: [\"./*\"]\n"
    )
}

/// The mesh-proxy client workload and its own no-capture Sidecar, bound on `ip`.
fn mesh_proxy_client_yaml(ip: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
         metadata: {{name: client-mp-0, namespace: {NAMESPACE}}}\n\
         spec: {{address: {ip}, labels: {{app: client-mp}}, serviceAccount: client}}\n\
         ---\n\
         apiVersion: networking.istio.io/v1\nkind: Sidecar\n\
         metadata: {{name: client-mp, namespace: {NAMESPACE}}}\n\
         spec:\n  workloadSelector: {{labels: {{app: client-mp}}}}\n  egress:\n  \
         - port: {{number: {SERVICE_PORT}, protocol: HTTP, name: http}}\n    \
         bind: {ip}\n    captureMode: NONE\n    hosts: [\"./*\"]\n"
    )
}

/// How many objects the visible YAML files of `dir` hold (documents with a `kind`).
fn objects_in(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.starts_with('.') && name.ends_with(".yaml")
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|text| {
            text.split("\n---")
                .filter(|doc| doc.lines().any(|l| l.starts_with("kind:")))
                .count()
        })
        .sum()
}

/// A `127.A.B` prefix no other mesh of this machine's test runs uses.
fn subnet() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let a = 64 + std::process::id() % 160;
    let b = NEXT.fetch_add(1, Ordering::SeqCst) % 256;
    format!("127.{a}.{b}")
}
