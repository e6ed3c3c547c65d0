//! Envoy's `cipher_suites` (OpenSSL names, TLS 1.2 only: TLS 1.3 suites are not
//! configurable in Envoy either) as a rustls provider. Names rustls does not
//! implement (RSA key exchange, CBC) are skipped as long as one listed suite is
//! left, which is what Istio's default list needs; a list with none is refused.

use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::cipher_suite;

/// The OpenSSL name of each TLS 1.2 suite rustls offers.
const TLS12_SUITES: [(&str, SupportedCipherSuite); 6] = [
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The provider with the TLS 1.3 suites and the listed TLS 1.2 ones (all when the
/// list is empty).
pub(super) fn provider(cipher_suites: &[String]) -> Result<CryptoProvider, String> {
    let mut provider = mesh_tls::provider().as_ref().clone();
    if cipher_suites.is_empty() {
        return Ok(provider);
    }
    let listed: Vec<SupportedCipherSuite> = cipher_suites
        .iter()
        .flat_map(|name| name.split(':'))
        .filter_map(|name| {
            let name = name
                .trim_start_matches(['[', ' '])
                .trim_end_matches([']', ' ']);
            TLS12_SUITES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, suite)| *suite)
        })
        .collect();
    if listed.is_empty() {
        return Err(format!(
            "cipher_suites {cipher_suites:?}: none is supported; supported: {}",
            TLS12_SUITES.map(|(n, _)| n).join(", ")
        ));
    }
    provider
        .cipher_suites
        .retain(|s| matches!(s, SupportedCipherSuite::Tls13(_)) || listed.contains(s));
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_default_ciphers_keep_the_ecdhe_suites() {
        let istio = [
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "AES256-GCM-SHA384",
            "AES128-GCM-SHA256",
        ]
        .map(String::from);
        let p = provider(&istio).expect("supported");
        let tls12 = p
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .count();
        assert_eq!(tls12, 4);
        assert!(
            p.cipher_suites
                .iter()
                .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        );
        let none = provider(&["AES128-SHA".to_string()]).expect_err("unsupported");
        assert!(none.contains("none is supported"), "{none}");
    }
}
