//! The Lease (`coordination.k8s.io/v1`) under which one replica creates the CA's
//! Secrets, so that replicas starting together make one root, not several. As
//! client-go's leader election: a candidate takes a Lease that has no holder, or whose
//! record it has seen unchanged for `leaseDurationSeconds` (measured on the
//! candidate's own clock from when it first saw that record, so clock skew between
//! nodes does not matter); every write carries the `resourceVersion` it read, so that
//! of two candidates only one wins (the other gets 409 Conflict).

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::time::Instant;

/// The Lease's name, in the control plane's namespace.
pub const LEASE_NAME: &str = "mesh-ca-root";
/// How long a holder may keep the Lease without renewing it: making an RSA 4096 root
/// takes seconds, writing two Secrets less.
pub const LEASE_DURATION: Duration = Duration::from_secs(30);
/// How often a waiting candidate looks again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// One candidate for one Lease.
#[derive(Debug, Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    holder: String,
}

/// The outcome of one attempt to take the Lease.
#[derive(Debug)]
pub enum Attempt {
    /// The Lease is ours: as the API server returned it.
    Acquired(Box<Lease>),
    /// Another candidate holds it: look again after `wait`.
    Held { holder: String, wait: Duration },
    /// Another candidate wrote it first (409): look again now.
    Lost,
}

/// A Lease record held by another candidate, and since when this one sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    record: String,
    since: Instant,
}

/// What a candidate may do with a Lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    /// Nobody holds it (never taken, or released), or this candidate does.
    Free,
    /// Its holder has not renewed it for its whole duration.
    Expired { holder: String },
    /// Another candidate holds it for up to `remaining`.
    Held { holder: String, remaining: Duration },
}

impl LeaseLock {
    pub fn new(api: Api<Lease>, name: &str, holder: &str) -> LeaseLock {
        LeaseLock {
            api,
            name: name.to_string(),
            holder: holder.to_string(),
        }
    }

    /// Tries once to take the Lease: created when absent, taken over with its
    /// `resourceVersion` when free or expired.
    pub async fn try_acquire(
        &self,
        observed: &mut Option<Observation>,
        now: Instant,
    ) -> Result<Attempt, kube::Error> {
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = self.held(
                ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                0,
            );
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(lease) => Ok(Attempt::Acquired(Box::new(lease))),
                Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(Attempt::Lost),
                Err(error) => Err(error),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        // leaseTransitions counts changes of holder, not re-acquisitions.
        let transitions = spec
            .lease_transitions
            .unwrap_or(0)
            .saturating_add(i32::from(
                spec.holder_identity.as_deref() != Some(self.holder.as_str()),
            ));
        match assess(&current, &self.holder, observed, now) {
            Assessment::Held { holder, remaining } => Ok(Attempt::Held {
                holder,
                wait: remaining.min(RETRY_INTERVAL),
            }),
            assessment => {
                if let Assessment::Expired { holder } = &assessment {
                    tracing::info!(lease = %self.name, %holder, "taking over an expired Lease");
                }
                // The metadata read, with its resourceVersion: the update fails with
                // 409 if anyone wrote the Lease since.
                let lease = self.held(current.metadata, transitions);
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(lease) => Ok(Attempt::Acquired(Box::new(lease))),
                    Err(kube::Error::Api(status)) if status.is_conflict() => Ok(Attempt::Lost),
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// Gives the Lease up (as client-go does: no holder, a one-second duration), so
    /// that a waiting candidate need not wait for it to expire. A failure only
    /// delays the others until it expires.
    pub async fn release(&self, lease: Lease) {
        let mut released = lease;
        let now = micro_time(SystemTime::now());
        released.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: now.clone(),
            renew_time: now,
            ..released.spec.unwrap_or_default()
        });
        if let Err(error) = self
            .api
            .replace(&self.name, &PostParams::default(), &released)
            .await
        {
            tracing::warn!(lease = %self.name, %error, "cannot release the Lease; it expires by itself");
        }
    }

    /// The Lease held by this candidate from now on.
    fn held(&self, metadata: ObjectMeta, transitions: i32) -> Lease {
        let now = micro_time(SystemTime::now());
        Lease {
            metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(self.holder.clone()),
                lease_duration_seconds: Some(duration_seconds(LEASE_DURATION)),
                acquire_time: now.clone(),
                renew_time: now,
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}

/// Whether `me` may take `lease` at `now`. `observed` remembers the record held by
/// another and since when it is unchanged; it is updated here.
pub fn assess(
    lease: &Lease,
    me: &str,
    observed: &mut Option<Observation>,
    now: Instant,
) -> Assessment {
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return Assessment::Free;
    }
    // Any write changes the resourceVersion: a renewal, a release, another holder.
    let record = lease
        .metadata
        .resource_version
        .clone()
        .unwrap_or_else(|| format!("{holder} {:?}", spec.renew_time));
    let since = match observed {
        Some(seen) if seen.record == record => seen.since,
        _ => {
            *observed = Some(Observation { record, since: now });
            now
        }
    };
    let duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(LEASE_DURATION, Duration::from_secs);
    let expires = since + duration;
    if now >= expires {
        Assessment::Expired { holder }
    } else {
        Assessment::Held {
            holder,
            remaining: expires - now,
        }
    }
}

fn micro_time(t: SystemTime) -> Option<MicroTime> {
    k8s_openapi::jiff::Timestamp::try_from(t)
        .ok()
        .map(MicroTime)
}

fn duration_seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
