//! The identity flags of `mesh-proxy run` and `mesh-proxy agent` (Istio's
//! pilot-agent: CA_ADDR, the token, the root certificate, the trust domain).

use std::path::PathBuf;
use std::time::Duration;

use mesh_api::identity::SpiffeId;

use super::IdentityConfig;

/// How the proxy gets its workload certificate.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// The control plane's root certificate(s), PEM (the trust bundle). With it, xDS
    /// and the CA are reached over TLS verified against it, and the proxy gets a
    /// workload certificate; without, xDS is plaintext and the proxy has no identity.
    #[arg(
        long,
        env = "MESH_ROOT_CERT",
        value_name = "FILE",
        requires = "token_file"
    )]
    pub root_cert: Option<PathBuf>,
    /// The workload token that proves who the proxy is (`meshctl token create`);
    /// re-read at each call to the control plane, so it can be replaced in place.
    #[arg(
        long,
        env = "MESH_TOKEN_FILE",
        value_name = "FILE",
        requires = "root_cert"
    )]
    pub token_file: Option<PathBuf>,
    /// The trust domain of the workload's SPIFFE ID.
    #[arg(long, env = "MESH_TRUST_DOMAIN", default_value = "cluster.local")]
    pub trust_domain: String,
    /// The certificate lifetime to ask for (the CA may cap it), e.g. 24h, 10m.
    #[arg(long, env = "MESH_CERT_TTL", default_value = "24h", value_parser = mesh_api::duration::parse_std)]
    pub cert_ttl: Duration,
    /// The CA's address when it is not the xDS address (Istio's CA_ADDR).
    #[arg(long, env = "MESH_CA_ADDRESS", value_name = "HOST:PORT")]
    pub ca_address: Option<String>,
}

impl IdentityArgs {
    /// The identity of a workload in `namespace` running as `service_account`, or
    /// `None` without `--root-cert`.
    pub fn config(
        &self,
        xds_address: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Option<IdentityConfig>, String> {
        let (Some(root_cert), Some(token_file)) = (&self.root_cert, &self.token_file) else {
            return Ok(None);
        };
        let text = format!(
            "spiffe://{}/ns/{namespace}/sa/{service_account}",
            self.trust_domain
        );
        let id: SpiffeId = text.parse().map_err(|e| {
            format!("--trust-domain, --workload and --service-account do not make an identity: {e}")
        })?;
        if self.cert_ttl < Duration::from_secs(60) {
            return Err(format!(
                "--cert-ttl {:?} is shorter than a minute; ask for at least 1m",
                self.cert_ttl
            ));
        }
        Ok(Some(IdentityConfig {
            id,
            ca_address: self
                .ca_address
                .clone()
                .unwrap_or_else(|| xds_address.to_string()),
            root_cert: root_cert.clone(),
            token_file: token_file.clone(),
            cert_ttl: self.cert_ttl,
        }))
    }
}
