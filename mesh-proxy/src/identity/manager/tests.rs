//! The renewal loop against an in-memory CA, on tokio's paused clock (certificate
//! time follows it): renewal at about half life, the old certificate kept while the
//! CA fails or answers wrongly, recovery when it answers again, withdrawal at expiry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::identity::test_ca::TestCa;
use crate::identity::{CertificateWatch, IdentityStatus};

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behavior {
    Sign,
    Down,
    OtherIdentity,
    OtherKey,
    OtherRoot,
}

#[derive(Clone)]
struct FakeCa {
    ca: Arc<TestCa>,
    other: Arc<TestCa>,
    clock: Clock,
    behavior: Arc<Mutex<Behavior>>,
    calls: Arc<AtomicUsize>,
}

struct Harness {
    ca: FakeCa,
    certificates: CertificateWatch,
    status: IdentityStatus,
}

impl CertificateAuthority for FakeCa {
    async fn create_certificate(&self, csr: String, ttl: Duration) -> Result<Vec<String>, CaError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.now();
        let (from, to) = (now - MINUTE, now + ttl);
        let behavior = *self.behavior.lock().expect("lock");
        let leaf = match behavior {
            Behavior::Sign => self.ca.sign_csr(&csr, from, to, None),
            Behavior::Down => {
                return Err(CaError::Refused {
                    address: "ca.test:15012".into(),
                    code: tonic::Code::Unavailable,
                    message: "connection refused".into(),
                });
            }
            Behavior::OtherIdentity => {
                let other = Some("spiffe://cluster.local/ns/shop/sa/admin");
                self.ca.sign_csr(&csr, from, to, other)
            }
            Behavior::OtherKey => {
                let other = KeyAndCsr::generate(&id()).expect("a CSR");
                self.ca.sign_csr(&other.csr_pem, from, to, None)
            }
            Behavior::OtherRoot => self.other.sign_csr(&csr, from, to, None),
        };
        Ok(vec![leaf, self.ca.root_pem.clone()])
    }
}

fn id() -> SpiffeId {
    SpiffeId::new("cluster.local", "shop", "reviews")
}

fn start(ttl: Duration) -> Harness {
    let clock = Clock::following_tokio();
    let ca = FakeCa {
        ca: Arc::new(TestCa::new("root")),
        other: Arc::new(TestCa::new("another root")),
        clock,
        behavior: Arc::new(Mutex::new(Behavior::Sign)),
        calls: Arc::default(),
    };
    let (tx, certificates) = watch::channel(None);
    let credentials =
        ControlPlaneCredentials::new(ca.ca.root_file(), None, certificates.clone()).expect("root");
    let status = IdentityStatus::new(id(), "ca.test:15012".into());
    let request = Request {
        id: id(),
        ttl,
        credentials,
    };
    let manager =
        CertificateManager::new(ca.clone(), request, status.clone(), tx).with_clock(clock);
    tokio::spawn(manager.run());
    Harness {
        ca,
        certificates,
        status,
    }
}

impl Harness {
    fn set(&self, behavior: Behavior) {
        *self.ca.behavior.lock().expect("lock") = behavior;
    }

    fn calls(&self) -> usize {
        self.ca.calls.load(Ordering::SeqCst)
    }

    fn serial(&self) -> Option<String> {
        self.certificates
            .borrow()
            .as_ref()
            .map(|c| c.info.serial.clone())
    }

    /// The next certificate published (or `None`, withdrawn).
    async fn next(&mut self) -> Option<Arc<WorkloadCertificate>> {
        self.certificates.changed().await.expect("the manager runs");
        self.certificates.borrow_and_update().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_certificate_is_ours_and_renewed_at_about_half_life() {
    let mut h = start(60 * MINUTE);
    let first = h.next().await.expect("a certificate");
    assert_eq!(first.identity, id());
    assert_eq!(first.info.spiffe_id().ok(), Some(id()));
    assert_eq!(first.chain.len(), 1, "the root is not served in the chain");
    assert_eq!(first.roots, vec![h.ca.ca.root.clone()]);
    assert!(h.status.last_error().is_none());
    let issued = Instant::now();
    let second = h.next().await.expect("a renewal");
    let after = issued.elapsed();
    assert!(
        (24 * MINUTE..=30 * MINUTE).contains(&after),
        "renewed after {after:?}"
    );
    assert_ne!(second.info.serial, first.info.serial);
    assert_ne!(
        second.key.secret_der(),
        first.key.secret_der(),
        "a new key for each certificate"
    );
    assert_eq!(h.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_keeps_the_current_certificate_and_recovers() {
    let mut h = start(60 * MINUTE);
    let first = h.next().await.expect("a certificate");
    h.set(Behavior::Down);
    // Past the renewal point: retries with backoff, the first certificate serving.
    tokio::time::sleep(40 * MINUTE).await;
    assert!(h.calls() > 3, "retried {} times", h.calls());
    assert_eq!(h.serial().as_deref(), Some(first.info.serial.as_str()));
    let error = h.status.last_error().expect("the reason is kept");
    assert!(error.contains("connection refused"), "{error}");
    h.set(Behavior::Sign);
    let recovered = h.next().await.expect("a new certificate");
    assert_ne!(recovered.info.serial, first.info.serial);
    assert!(h.status.last_error().is_none());
}

#[tokio::test(start_paused = true)]
async fn answers_for_another_identity_key_or_root_are_refused() {
    for (behavior, reason) in [
        (
            Behavior::OtherIdentity,
            "is for spiffe://cluster.local/ns/shop/sa/admin, not for spiffe://cluster.local/ns/shop/sa/reviews",
        ),
        (Behavior::OtherKey, "another public key"),
        (Behavior::OtherRoot, "trust bundle"),
    ] {
        let mut h = start(60 * MINUTE);
        let first = h.next().await.expect("a certificate");
        h.set(behavior);
        tokio::time::sleep(40 * MINUTE).await;
        assert_eq!(
            h.serial().as_deref(),
            Some(first.info.serial.as_str()),
            "{behavior:?}: the first certificate still serves"
        );
        let error = h.status.last_error().expect("refused");
        assert!(error.contains(reason), "{behavior:?}: {error}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_certificate_is_published_from_a_wrong_first_answer() {
    let h = start(60 * MINUTE);
    h.set(Behavior::OtherIdentity);
    tokio::time::sleep(5 * MINUTE).await;
    assert!(h.calls() > 1);
    assert!(h.serial().is_none());
}

#[tokio::test(start_paused = true)]
async fn an_expired_certificate_is_withdrawn_while_the_ca_stays_down() {
    let mut h = start(10 * MINUTE);
    h.next().await.expect("a certificate");
    h.set(Behavior::Down);
    let since = Instant::now();
    assert!(h.next().await.is_none(), "withdrawn");
    let after = since.elapsed();
    assert!(
        (9 * MINUTE..11 * MINUTE).contains(&after),
        "withdrawn after {after:?}"
    );
    h.set(Behavior::Sign);
    assert!(h.next().await.is_some(), "back once the CA answers");
}
