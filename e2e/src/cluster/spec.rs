//! What a pod is made of, independent of how a cluster runs it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;

use super::SAMPLE_APP;

/// Pod label that keeps a pod out of the mesh (no sidecar), as Istio's
/// `sidecar.istio.io/inject: "false"`.
pub const INJECT_LABEL: &str = "mesh.dev/inject";

/// A pod's name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub name: String,
    pub namespace: String,
}

/// Istio's pod annotations for ports the redirect rules leave alone; a kind cluster's
/// injector reads the same ones.
pub const EXCLUDE_OUTBOUND_PORTS: &str = "traffic.sidecar.istio.io/excludeOutboundPorts";
pub const EXCLUDE_INBOUND_PORTS: &str = "traffic.sidecar.istio.io/excludeInboundPorts";

/// A named container port (`containerPort` with its `name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPort {
    pub name: String,
    pub port: u16,
}

/// A pod to deploy: a one-container Deployment's pod template, plus whether it gets a
/// sidecar.
#[derive(Debug, Clone)]
pub struct PodSpec {
    pub pod: PodRef,
    pub labels: BTreeMap<String, String>,
    /// Pod annotations; the sidecar honours [`EXCLUDE_OUTBOUND_PORTS`] and
    /// [`EXCLUDE_INBOUND_PORTS`].
    pub annotations: BTreeMap<String, String>,
    pub service_account: String,
    /// The ports the app listens on; a pod is ready when all of them listen.
    pub ports: Vec<PodPort>,
    /// The app's argv; `argv[0]` is a program in the pod's image ([`SAMPLE_APP`]).
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Whether the pod is in the mesh (a sidecar and redirect rules).
    pub sidecar: bool,
    /// Which proxy the sidecar is.
    pub proxy: SidecarProxy,
}

/// The proxy a meshed pod runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SidecarProxy {
    /// `mesh-proxy run`.
    #[default]
    MeshProxy,
    /// Real Envoy with `mesh-proxy agent` serving it SDS (Istio's pilot-agent role).
    Envoy,
}

/// The label Istio's injector puts on meshed pods: endpoints with it get mTLS from
/// auto mTLS.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";

/// A deployed pod: its name and its IP. Dereferences to its [`PodRef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub id: PodRef,
    pub ip: IpAddr,
}

impl PodRef {
    pub fn new(name: &str, namespace: &str) -> PodRef {
        PodRef {
            name: name.to_string(),
            namespace: namespace.to_string(),
        }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl Deref for Pod {
    type Target = PodRef;

    fn deref(&self) -> &PodRef {
        &self.id
    }
}

impl PodSpec {
    /// A pod in the mesh with service account `default`, no ports and no command yet.
    pub fn new(name: &str, namespace: &str) -> PodSpec {
        PodSpec {
            pod: PodRef::new(name, namespace),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            service_account: "default".to_string(),
            ports: Vec::new(),
            command: Vec::new(),
            env: Vec::new(),
            sidecar: true,
            proxy: SidecarProxy::MeshProxy,
        }
    }

    /// The sample app as `app`/`version` (labels `app` and `version`, which it reports),
    /// listening on `http` 9080, `grpc` 9090 and `tcp` 9000, calling `upstreams`.
    pub fn sample_app(
        name: &str,
        namespace: &str,
        app: &str,
        version: &str,
        upstreams: &[&str],
    ) -> PodSpec {
        let mut command = vec![SAMPLE_APP.to_string(), "serve".to_string()];
        for upstream in upstreams {
            command.extend(["--upstream".to_string(), upstream.to_string()]);
        }
        PodSpec::new(name, namespace)
            .label("app", app)
            .label("version", version)
            .env("MESH_SAMPLE_NAME", app)
            .env("MESH_SAMPLE_VERSION", version)
            .port("http", 9080)
            .port("grpc", 9090)
            .port("tcp", 9000)
            .command(&command.iter().map(String::as_str).collect::<Vec<_>>())
    }

    pub fn label(mut self, key: &str, value: &str) -> PodSpec {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> PodSpec {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    pub fn service_account(mut self, account: &str) -> PodSpec {
        self.service_account = account.to_string();
        self
    }

    pub fn port(mut self, name: &str, port: u16) -> PodSpec {
        self.ports.push(PodPort {
            name: name.to_string(),
            port,
        });
        self
    }

    pub fn command(mut self, argv: &[&str]) -> PodSpec {
        self.command = argv.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Appends `args` to the command (e.g. `--fail-rate 0.5`).
    pub fn args(mut self, args: &[&str]) -> PodSpec {
        self.command.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> PodSpec {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// In the mesh or not; out of it also sets `mesh.dev/inject: "false"`, which is
    /// what keeps an injector (kind) from adding a sidecar.
    pub fn sidecar(mut self, sidecar: bool) -> PodSpec {
        self.sidecar = sidecar;
        if sidecar {
            self.labels.remove(INJECT_LABEL);
        } else {
            self.labels
                .insert(INJECT_LABEL.to_string(), "false".to_string());
        }
        self
    }

    /// In the mesh with real Envoy as the sidecar.
    pub fn envoy_sidecar(mut self) -> PodSpec {
        self = self.sidecar(true);
        self.proxy = SidecarProxy::Envoy;
        self
    }

    /// `k=v,k2=v2`, as `mesh-proxy run --labels` takes them.
    pub fn labels_arg(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}
