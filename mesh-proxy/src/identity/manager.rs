//! The renewal loop (ztunnel's `SecretManager`, for the one identity a sidecar has):
//! a new key and CSR for each certificate, the CA's answer verified, the result
//! published; renewal at about half the remaining life; on failure the current
//! certificate keeps serving and the CA is asked again after a backoff, until the
//! certificate expires, when it is withdrawn (connections then fail closed).

use std::sync::Arc;
use std::time::Duration;

use mesh_api::identity::SpiffeId;
use tokio::sync::watch;

use super::ca_client::{CaError, CertificateAuthority};
use super::channel::ControlPlaneCredentials;
use super::csr::KeyAndCsr;
use super::schedule::{self, Backoff, Clock};
use super::verify::{IssuedChainError, verify_issued};
use super::{IdentityStatus, WorkloadCertificate};

/// What to ask for.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) id: SpiffeId,
    pub(crate) ttl: Duration,
    /// Where the trust bundle comes from.
    pub(crate) credentials: ControlPlaneCredentials,
}

/// Keeps one workload certificate current.
#[derive(Debug)]
pub(crate) struct CertificateManager<C> {
    ca: C,
    request: Request,
    status: IdentityStatus,
    certificates: watch::Sender<Option<Arc<WorkloadCertificate>>>,
    clock: Clock,
    backoff: Backoff,
}

/// Why an attempt gave no certificate.
#[derive(Debug, thiserror::Error)]
enum RenewError {
    #[error("cannot generate a key and CSR: {0}")]
    Csr(#[from] rcgen::Error),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("refused the CA's answer: {0}")]
    Refused(#[from] IssuedChainError),
}

impl<C: CertificateAuthority> CertificateManager<C> {
    pub(crate) fn new(
        ca: C,
        request: Request,
        status: IdentityStatus,
        certificates: watch::Sender<Option<Arc<WorkloadCertificate>>>,
    ) -> CertificateManager<C> {
        CertificateManager {
            ca,
            request,
            status,
            certificates,
            clock: Clock::Wall,
            backoff: Backoff::DEFAULT,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until the process ends (or every reader of the certificates is gone).
    pub(crate) async fn run(self) {
        let id = &self.request.id;
        let mut failures = 0u32;
        loop {
            let delay = match self.renew().await {
                Ok(certificate) => {
                    failures = 0;
                    let now = self.clock.now();
                    let delay = schedule::renewal_delay(
                        now,
                        certificate.info.not_after,
                        schedule::jitter(),
                    );
                    tracing::info!(
                        identity = %id,
                        serial = %certificate.info.serial,
                        expires_in = ?certificate.info.remaining(now),
                        renew_in = ?delay,
                        "workload certificate issued"
                    );
                    self.status.succeeded(now);
                    self.certificates.send_replace(Some(Arc::new(certificate)));
                    delay
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.status.failed(e.to_string());
                    self.after_failure(&e, self.backoff.delay(failures, schedule::jitter()))
                }
            };
            if self.certificates.is_closed() {
                return;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Logs the failure, withdraws an expired certificate, and says how long to wait:
    /// the retry delay, but no later than the current certificate's expiry.
    fn after_failure(&self, error: &RenewError, retry: Duration) -> Duration {
        let id = &self.request.id;
        let now = self.clock.now();
        let current = self.certificates.borrow().clone();
        match current {
            Some(current) if current.valid_at(now) => {
                let left = current.info.remaining(now);
                tracing::warn!(
                    identity = %id,
                    serial = %current.info.serial,
                    expires_in = ?left,
                    retry_in = ?retry,
                    "cannot renew the workload certificate: {error}; the current one serves meanwhile"
                );
                retry.min(left)
            }
            Some(expired) => {
                tracing::error!(
                    identity = %id,
                    serial = %expired.info.serial,
                    retry_in = ?retry,
                    "the workload certificate expired and the CA gave no new one ({error}); \
                     TLS connections fail until it does"
                );
                self.certificates.send_replace(None);
                retry
            }
            None => {
                tracing::warn!(
                    identity = %id,
                    ca = %self.status.ca_address,
                    retry_in = ?retry,
                    "no workload certificate yet: {error}"
                );
                retry
            }
        }
    }

    /// One attempt: a new key, the CA's answer, verified.
    async fn renew(&self) -> Result<WorkloadCertificate, RenewError> {
        let id = &self.request.id;
        let request = KeyAndCsr::generate(id)?;
        let chain = self
            .ca
            .create_certificate(request.csr_pem.clone(), self.request.ttl)
            .await?;
        let roots = self.request.credentials.roots();
        let issued = verify_issued(
            &chain,
            request.key.public_key_raw(),
            id,
            &roots,
            self.clock.now(),
        )?;
        Ok(WorkloadCertificate {
            identity: id.clone(),
            chain: issued.chain,
            key: request.private_key(),
            roots: roots.to_vec(),
            info: issued.info,
        })
    }
}

#[cfg(test)]
mod tests;
