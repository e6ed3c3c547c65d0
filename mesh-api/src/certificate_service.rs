//! Istio's certificate API (`istio/security/proto/providers/google/ca.proto`, the
//! part Istio serves as `istio.v1.auth.IstioCertificateService`): a proxy sends a
//! CSR and the lifetime it wants, and gets a chain back, leaf first. The messages
//! are written out here (two messages, one RPC) rather than generated, so that the
//! control plane, the proxy and the agent share them without a protoc step.

/// The gRPC method path, as Istio's pilot-agent calls it.
pub const CREATE_CERTIFICATE_PATH: &str =
    "/istio.v1.auth.IstioCertificateService/CreateCertificate";
/// The gRPC service name.
pub const SERVICE_NAME: &str = "istio.v1.auth.IstioCertificateService";

/// `IstioCertificateRequest`. Istio's `metadata` (field 3, a `Struct` naming the
/// cluster) is not read: the caller's identity comes from its credential, never
/// from what it says about itself.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateRequest {
    /// The PEM-encoded certificate signing request.
    #[prost(string, tag = "1")]
    pub csr: String,
    /// The requested lifetime of the certificate, in seconds (0: the CA's default).
    #[prost(int64, tag = "2")]
    pub validity_duration: i64,
}

/// `IstioCertificateResponse`: PEM certificates, the leaf first, then its issuers up
/// to and including the root.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateResponse {
    #[prost(string, repeated, tag = "1")]
    pub cert_chain: Vec<String>,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn requests_decode_what_istio_encodes_ignoring_metadata() {
        // Istio's pilot-agent request: csr (1), validity (2), metadata (3, a Struct
        // with ClusterID) — hand-encoded, as the bytes on the wire.
        let mut wire = Vec::new();
        IstioCertificateRequest {
            csr: "-----BEGIN CERTIFICATE REQUEST-----".into(),
            validity_duration: 86_400,
        }
        .encode(&mut wire)
        .expect("encodes");
        // Field 3, length-delimited, an empty Struct: unknown here, skipped.
        wire.extend_from_slice(&[0x1a, 0x00]);
        let decoded = IstioCertificateRequest::decode(wire.as_slice()).expect("decodes");
        assert_eq!(decoded.validity_duration, 86_400);
        assert!(decoded.csr.starts_with("-----BEGIN"));
    }
}
