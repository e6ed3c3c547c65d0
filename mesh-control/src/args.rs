//! Command-line flags of `mesh-control`, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::ca::CaKeyType;

/// The mesh control plane: reads mesh config and serves it to proxies.
///
/// Universal mode (no Kubernetes): point --config-dir at a directory of YAML manifests
/// (v1 Services, WorkloadEntries and the mesh CRDs, in our groups or Istio's). Changes
/// to the directory are picked up while running; a bad document is reported with its
/// file, document, object and field, and the last good config stays in force.
///
/// Kubernetes mode (--kubernetes): Services, EndpointSlices, Pods and the mesh CRDs
/// (our groups and Istio's, whichever the cluster has) are watched through the API,
/// in-cluster with the pod's service account or from outside with a kubeconfig.
#[derive(Debug, Clone, Parser)]
#[command(name = "mesh-control", version, about, long_about)]
pub struct Args {
    /// Directory of YAML manifests to read (recursively) and watch. Required without
    /// --kubernetes; with it, these objects come first where both define one.
    #[arg(long, env = "MESH_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Read the config from the Kubernetes API. Credentials are found as kubectl finds
    /// them: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's
    /// service account.
    #[arg(long, env = "MESH_KUBERNETES")]
    pub kubernetes: bool,

    /// Kubeconfig file to use with --kubernetes (instead of kubectl's search).
    #[arg(long, env = "MESH_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use with --kubernetes (default: its current context).
    #[arg(long, env = "MESH_KUBE_CONTEXT", value_name = "NAME")]
    pub kube_context: Option<String>,

    /// Namespaces to watch with --kubernetes (repeat, or separate with commas); all
    /// namespaces when none is given.
    #[arg(
        long,
        env = "MESH_WATCH_NAMESPACES",
        value_name = "NS",
        value_delimiter = ','
    )]
    pub watch_namespaces: Vec<String>,

    /// The namespace mesh-control runs in (Kubernetes mode: its CA Secret, Lease and
    /// webhook serving names live there).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "mesh-system",
        value_name = "NS"
    )]
    pub namespace: String,

    /// Namespace whose selector-less policies apply to the whole mesh (Istio's root namespace).
    #[arg(long, env = "MESH_ROOT_NAMESPACE", default_value = mesh_api::model::DEFAULT_ROOT_NAMESPACE)]
    pub root_namespace: String,

    /// Quiet time after a change in the config directory before it is re-read (e.g. 100ms, 1s).
    #[arg(long, env = "MESH_CONFIG_DEBOUNCE", default_value = "100ms", value_parser = parse_duration)]
    pub config_debounce: Duration,

    /// Address of the plaintext xDS server (ADS, State of the World and Delta, and the
    /// certificate service) that proxies connect to: unauthenticated, for local
    /// development, as Istio's 15010. Certificates are still signed only for a caller
    /// that sends a workload token.
    #[arg(
        long,
        env = "MESH_XDS_ADDRESS",
        default_value = "0.0.0.0:15010",
        value_name = "HOST:PORT"
    )]
    pub xds_address: SocketAddr,

    /// Address of ADS and the certificate service over TLS (Istio's 15012). Every
    /// caller proves its identity (a workload token or a certificate from this CA)
    /// and a proxy is served only as that identity.
    #[arg(
        long,
        env = "MESH_XDS_TLS_ADDRESS",
        default_value = "0.0.0.0:15012",
        value_name = "HOST:PORT"
    )]
    pub xds_tls_address: SocketAddr,

    /// More names (DNS names or IP addresses) for the serving certificate of
    /// --xds-tls-address, for proxies that dial the control plane by a name or an
    /// address other than those it binds (repeat, or separate with commas).
    #[arg(long, env = "MESH_TLS_SAN", value_name = "NAME", value_delimiter = ',')]
    pub tls_san: Vec<String>,

    /// Directory of the CA in universal mode (with --kubernetes the CA is kept in the
    /// Secrets `cacerts` or `istio-ca-secret` of --namespace), in Istio's `cacerts` layout: ca-cert.pem, ca-key.pem,
    /// cert-chain.pem, root-cert.pem (plus token-signing-key.pem, the key of workload
    /// tokens). Empty or missing: a new self-signed root is created there. To plug in
    /// an intermediate CA under an offline root, put its four files there.
    /// The default is ./etc/cacerts, relative to the working directory, as istiod's.
    #[arg(
        long,
        env = "MESH_CA_DIR",
        default_value = "./etc/cacerts",
        value_name = "DIR"
    )]
    pub ca_dir: PathBuf,

    /// Key type of a new self-signed root. ring (mesh's crypto library) generates
    /// ECDSA keys only: for an RSA root, put an RSA key (PKCS#8 or PKCS#1 PEM) in
    /// --ca-dir as ca-key.pem and the root is made with it.
    #[arg(
        long,
        env = "MESH_CA_KEY_TYPE",
        value_enum,
        default_value = "ecdsa-p256"
    )]
    pub ca_key_type: CaKeyType,

    /// Trust domain of workload identities (spiffe://<trust domain>/ns/<ns>/sa/<sa>).
    #[arg(
        long,
        env = "MESH_TRUST_DOMAIN",
        default_value = "cluster.local",
        value_name = "DOMAIN"
    )]
    pub trust_domain: String,

    /// Lifetime of a workload certificate when the proxy asks for none (e.g. 24h).
    #[arg(long, env = "MESH_WORKLOAD_CERT_TTL", default_value = "24h", value_name = "DURATION", value_parser = parse_duration)]
    pub workload_cert_ttl: Duration,

    /// Longest workload certificate; longer requests are refused, as Istio does
    /// (default 2160h, 90 days, Istio's). Requests may go down to 1m (for tests).
    #[arg(long, env = "MESH_MAX_WORKLOAD_CERT_TTL", default_value = "2160h", value_name = "DURATION", value_parser = parse_duration)]
    pub max_workload_cert_ttl: Duration,

    /// File holding the admin token: a caller of POST /debug/tokens that is not on
    /// the loopback must send `Authorization: Bearer <admin token>`. Without it, only
    /// local callers get tokens.
    #[arg(long, env = "MESH_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Address of the debug endpoint (/debug/syncz, /debug/config_dump, /debug/config,
    /// /debug/certificates, POST /debug/tokens, /healthz/ready, /version). Keep it on
    /// localhost unless it is firewalled: it shows every proxy's config, and a local
    /// caller may create workload tokens.
    #[arg(
        long,
        env = "MESH_DEBUG_ADDRESS",
        default_value = "127.0.0.1:15014",
        value_name = "HOST:PORT"
    )]
    pub debug_address: SocketAddr,

    /// Audience a pod's projected ServiceAccount token must have to get a certificate
    /// (Kubernetes mode; the injector mounts the token with it).
    #[arg(
        long,
        env = "MESH_TOKEN_AUDIENCE",
        default_value = "istio-ca",
        value_name = "AUDIENCE"
    )]
    pub token_audience: String,

    /// The sidecar injection settings (the mesh-control chart's ConfigMap
    /// `mesh-sidecar-injector`, key config.yaml); defaults without it.
    #[arg(long, env = "MESH_INJECTION_CONFIG", value_name = "FILE")]
    pub injection_config: Option<PathBuf>,

    /// Address of the admission webhooks (HTTPS: POST /inject, POST /validate), served
    /// with --kubernetes.
    #[arg(
        long,
        env = "MESH_WEBHOOK_ADDRESS",
        default_value = "0.0.0.0:15017",
        value_name = "HOST:PORT"
    )]
    pub webhook_address: SocketAddr,

    /// MutatingWebhookConfiguration whose caBundle the control plane keeps current
    /// (empty: none).
    #[arg(
        long,
        env = "MESH_INJECTOR_WEBHOOK_CONFIG",
        default_value = "mesh-sidecar-injector",
        value_name = "NAME"
    )]
    pub injector_webhook_config: String,

    /// ValidatingWebhookConfiguration whose caBundle the control plane keeps current
    /// (empty: none).
    #[arg(
        long,
        env = "MESH_VALIDATION_WEBHOOK_CONFIG",
        default_value = "mesh-validator",
        value_name = "NAME"
    )]
    pub validation_webhook_config: String,

    /// Quiet time after a config change before it is pushed to proxies (e.g. 100ms, 1s);
    /// changes within it are pushed together, and none waits more than ten times it.
    #[arg(long, env = "MESH_PUSH_DEBOUNCE", default_value = "100ms", value_parser = parse_duration)]
    pub push_debounce: Duration,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `mesh_control=debug`).
    #[arg(long, env = "MESH_LOG", default_value = "info")]
    pub log: String,
}

/// Parses `250ms`, `1s`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<mesh_api::duration::Duration>()
        .map(|d| d.as_std())
        .map_err(|e| format!("{e}; write a duration such as 100ms or 1s"))
}
