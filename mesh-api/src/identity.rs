//! Workload identities: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
//! Istio's form of a SPIFFE ID. The CA issues certificates for them, proxies present
//! and verify them, authorization policies name them.

use std::fmt;
use std::str::FromStr;

/// A workload's SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    pub trust_domain: String,
    pub namespace: String,
    pub service_account: String,
}

/// Why a string is not an Istio SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a workload identity: {reason} (expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)"
)]
pub struct SpiffeIdError {
    input: String,
    reason: &'static str,
}

impl SpiffeId {
    pub fn new(trust_domain: &str, namespace: &str, service_account: &str) -> SpiffeId {
        SpiffeId {
            trust_domain: trust_domain.to_string(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spiffe://{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(input: &str) -> Result<SpiffeId, SpiffeIdError> {
        let error = |reason| SpiffeIdError {
            input: input.to_string(),
            reason,
        };
        let rest = input
            .strip_prefix("spiffe://")
            .ok_or_else(|| error("it does not start with spiffe://"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [trust_domain, "ns", namespace, "sa", service_account] = parts.as_slice() else {
            return Err(error(
                "its path is not /ns/<namespace>/sa/<service-account>",
            ));
        };
        if [trust_domain, namespace, service_account]
            .iter()
            .any(|s| s.is_empty())
        {
            return Err(error("a part is empty"));
        }
        Ok(SpiffeId::new(trust_domain, namespace, service_account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_spiffe_ids_round_trip() {
        let text = "spiffe://cluster.local/ns/shop/sa/reviews";
        let id: SpiffeId = text.parse().expect("valid");
        assert_eq!(id, SpiffeId::new("cluster.local", "shop", "reviews"));
        assert_eq!(id.to_string(), text);
    }

    #[test]
    fn other_shapes_are_refused_with_the_expected_form() {
        for bad in [
            "cluster.local/ns/shop/sa/reviews",
            "spiffe://cluster.local/shop/reviews",
            "spiffe://cluster.local/ns//sa/reviews",
            "spiffe://cluster.local/ns/shop/sa/reviews/extra",
        ] {
            let err = bad.parse::<SpiffeId>().expect_err(bad);
            assert!(err.to_string().contains("spiffe://<trust-domain>"), "{err}");
        }
    }
}
