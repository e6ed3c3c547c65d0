//! One local pod: a network namespace plugged into the cluster's bridge, the sidecar
//! (redirect rules, then `mesh-proxy run` as uid 1337) and the app (as uid 1000).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::binaries::Binaries;
use super::netns::Netns;
use super::process::{Ids, NetnsProcess};
use crate::cluster::spec::{EXCLUDE_INBOUND_PORTS, EXCLUDE_OUTBOUND_PORTS};
use crate::cluster::{ClusterError, PodSpec};

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
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running pod. Dropping it stops the app, then the sidecar, then removes the
/// namespace (and with it the veth).
#[derive(Debug)]
pub(super) struct LocalPod {
    pub(super) spec: PodSpec,
    pub(super) ip: Ipv4Addr,
    app: Option<NetnsProcess>,
    proxy: Option<NetnsProcess>,
    pub(super) netns: Netns,
}

/// What every pod start needs from the cluster.
#[derive(Debug)]
pub(super) struct PodContext<'a> {
    pub(super) binaries: &'a Binaries,
    pub(super) logs: &'a Path,
    pub(super) xds: SocketAddr,
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
            netns,
        })
    }

    /// Installs the redirect rules (as root, like `istio-init`), starts `mesh-proxy run`
    /// as uid 1337 and waits until it is ready.
    pub(super) async fn start_sidecar(&mut self, ctx: &PodContext<'_>) -> Result<(), ClusterError> {
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
        let id = &self.spec.pod;
        let argv: Vec<String> = [
            proxy.as_str(),
            "run",
            "--xds-address",
            &ctx.xds.to_string(),
            "--workload",
            &format!("{}.{}", id.name, id.namespace),
            "--ip",
            &self.ip.to_string(),
            "--labels",
            &self.spec.labels_arg(),
            "--service-account",
            &self.spec.service_account,
        ]
        .map(String::from)
        .to_vec();
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
        let probe = [
            ctx.binaries.resolve(crate::cluster::SAMPLE_APP),
            "get".into(),
            PROXY_READY_URL.into(),
        ];
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.proxy.as_mut().and_then(NetnsProcess::exited) {
                return Err(self.error(format!(
                    "the sidecar exited ({status})\n{}",
                    self.describe()
                )));
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
        [&self.app, &self.proxy]
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
