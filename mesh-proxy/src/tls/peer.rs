//! What a downstream mTLS connection proved: the client's certificate facts, its
//! SPIFFE identity, and the `x-forwarded-client-cert` element Envoy would add for
//! it (`By=…;Hash=…;Subject="…";URI=…;DNS=…`).

use mesh_api::identity::SpiffeId;
use rustls_pki_types::CertificateDer;

/// The verified client certificate of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Its SPIFFE ID, when it names exactly one.
    pub identity: Option<SpiffeId>,
    pub subject: String,
    pub uris: Vec<String>,
    pub dns_names: Vec<String>,
    /// Hex SHA-256 of the DER, as Envoy's `Hash=`.
    pub sha256: String,
    /// The first URI SAN of the certificate this proxy presented (`By=`).
    pub local_uri: Option<String>,
}

impl PeerCertificate {
    /// The facts of `leaf`; `None` when it cannot be read (it was verified, so this
    /// does not happen with a validation context).
    pub fn of(leaf: &CertificateDer<'_>, local_uri: Option<String>) -> Option<PeerCertificate> {
        let info = mesh_tls::CertificateInfo::parse(leaf).ok()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
        Some(PeerCertificate {
            identity: info.spiffe_id().ok(),
            subject: info.subject.clone(),
            uris: info.uris.clone(),
            dns_names: info.dns_names.clone(),
            sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            local_uri,
        })
    }

    /// The XFCC element for `subject`, `uri` and `dns` (Envoy's
    /// `set_current_client_cert_details`); `By` and `Hash` are always there.
    pub fn xfcc_element(&self, subject: bool, uri: bool, dns: bool) -> String {
        let mut out = String::new();
        if let Some(by) = &self.local_uri {
            out.push_str("By=");
            out.push_str(by);
            out.push(';');
        }
        out.push_str("Hash=");
        out.push_str(&self.sha256);
        if subject {
            out.push_str(";Subject=\"");
            out.push_str(&self.subject.replace('"', "\\\""));
            out.push('"');
        }
        if uri {
            // Envoy writes the first URI SAN, and the key with an empty value when
            // there is none.
            out.push_str(";URI=");
            out.push_str(self.uris.first().map_or("", String::as_str));
        }
        if dns {
            for name in &self.dns_names {
                out.push_str(";DNS=");
                out.push_str(name);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfcc_elements_are_written_as_envoy_writes_them() {
        let peer = PeerCertificate {
            identity: None,
            subject: String::new(),
            uris: vec!["spiffe://cluster.local/ns/a/sa/sleep".into()],
            dns_names: vec![],
            sha256: "ab12".into(),
            local_uri: Some("spiffe://cluster.local/ns/a/sa/httpbin".into()),
        };
        assert_eq!(
            peer.xfcc_element(true, true, true),
            "By=spiffe://cluster.local/ns/a/sa/httpbin;Hash=ab12;Subject=\"\";URI=spiffe://cluster.local/ns/a/sa/sleep"
        );
        assert_eq!(
            peer.xfcc_element(false, false, false),
            "By=spiffe://cluster.local/ns/a/sa/httpbin;Hash=ab12"
        );
    }
}
