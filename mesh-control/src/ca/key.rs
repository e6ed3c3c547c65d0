//! The CA's private key: generated (ECDSA P-256) or read from `ca-key.pem` in any
//! of the forms openssl writes (PKCS#8, or PKCS#1 for RSA as older Istio samples
//! have it), for rcgen to sign with through ring.

use rcgen::KeyPair;
use rustls_pki_types::PrivateKeyDer;

/// The kind of key a new root CA gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum CaKeyType {
    /// ECDSA on P-256 with SHA-256: small, fast handshakes (the default).
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 2048 (Istio's default CA key).
    #[value(name = "rsa-2048")]
    Rsa2048,
    /// RSA 4096.
    #[value(name = "rsa-4096")]
    Rsa4096,
}

/// Why the CA has no key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what}: {reason}")]
    Unreadable { what: String, reason: String },
    #[error(
        "{0}: an SEC1 (`BEGIN EC PRIVATE KEY`) key; convert it to PKCS#8 with `openssl \
         pkcs8 -topk8 -nocrypt -in ca-key.pem -out ca-key.pem.new` and use that"
    )]
    Sec1(String),
    #[error("{what}: cannot generate a key: {reason}")]
    Generation { what: String, reason: String },
}

impl CaKeyType {
    fn rsa_bits(self) -> u32 {
        match self {
            CaKeyType::Rsa4096 => 4096,
            _ => 2048,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CaKeyType::EcdsaP256 => "ECDSA P-256",
            CaKeyType::Rsa2048 => "RSA 2048",
            CaKeyType::Rsa4096 => "RSA 4096",
        }
    }
}

/// A new key of `key_type`.
pub fn generate(key_type: CaKeyType) -> Result<KeyPair, KeyError> {
    match key_type {
        CaKeyType::EcdsaP256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| {
                KeyError::Generation {
                    what: key_type.name().to_string(),
                    reason: e.to_string(),
                }
            })
        }
        CaKeyType::Rsa2048 | CaKeyType::Rsa4096 => generate_rsa(key_type),
    }
}

/// An RSA key from the `rsa` crate (ring cannot generate one), handed to rcgen as
/// PKCS#8 so that ring signs with it. Once per CA: a 4096-bit key takes seconds.
fn generate_rsa(key_type: CaKeyType) -> Result<KeyPair, KeyError> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let bits = usize::try_from(key_type.rsa_bits()).unwrap_or(2048);
    tracing::info!(
        "generating an {} CA key (this takes a few seconds)",
        key_type.name()
    );
    let failed = |reason: String| KeyError::Generation {
        what: key_type.name().to_string(),
        reason,
    };
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
        .map_err(|e| failed(e.to_string()))?;
    let pkcs8 = key.to_pkcs8_der().map_err(|e| failed(e.to_string()))?;
    KeyPair::try_from(pkcs8.as_bytes()).map_err(|e| failed(e.to_string()))
}

/// The key in `pem`; `what` names the file in errors.
pub fn from_pem(pem: &[u8], what: &str) -> Result<KeyPair, KeyError> {
    let unreadable = |reason: String| KeyError::Unreadable {
        what: what.to_string(),
        reason,
    };
    let key = mesh_tls::private_key_from_pem(pem, what).map_err(|e| unreadable(e.to_string()))?;
    let pkcs8 = match key {
        PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der().to_vec(),
        PrivateKeyDer::Pkcs1(der) => rsa_pkcs1_to_pkcs8(der.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(_) => return Err(KeyError::Sec1(what.to_string())),
        _ => return Err(unreadable("an unknown kind of private key".into())),
    };
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| {
        unreadable(format!(
            "{e}; the CA key must be ECDSA (P-256 or P-384), Ed25519 or RSA, unencrypted"
        ))
    })
}

/// Wraps a PKCS#1 RSAPrivateKey in PKCS#8's PrivateKeyInfo (RFC 5208), which is all
/// ring reads: `SEQUENCE { INTEGER 0, SEQUENCE { rsaEncryption, NULL }, OCTET STRING }`.
fn rsa_pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    const VERSION_AND_ALGORITHM: &[u8] = &[
        0x02, 0x01, 0x00, // INTEGER 0
        0x30, 0x0d, // SEQUENCE
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, // rsaEncryption
        0x05, 0x00, // NULL
    ];
    let mut body = VERSION_AND_ALGORITHM.to_vec();
    body.extend(der_header(0x04, pkcs1.len()));
    body.extend_from_slice(pkcs1);
    let mut out = der_header(0x30, body.len());
    out.extend(body);
    out
}

/// A DER tag and definite length.
fn der_header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_are_definite_and_minimal() {
        assert_eq!(der_header(0x04, 5), [0x04, 5]);
        assert_eq!(der_header(0x04, 200), [0x04, 0x81, 200]);
        assert_eq!(der_header(0x30, 1190), [0x30, 0x82, 0x04, 0xa6]);
    }

    #[test]
    fn ecdsa_and_rsa_keys_round_trip_through_pem() {
        let key = generate(CaKeyType::EcdsaP256).unwrap();
        let again = from_pem(key.serialize_pem().as_bytes(), "ca-key.pem").unwrap();
        assert_eq!(again.public_key_raw(), key.public_key_raw());
        // RSA 2048 only: a 4096-bit key takes seconds in a debug build.
        let rsa = generate(CaKeyType::Rsa2048).unwrap();
        assert!(rsa.is_compatible(&rcgen::PKCS_RSA_SHA256));
        let again = from_pem(rsa.serialize_pem().as_bytes(), "ca-key.pem").unwrap();
        assert_eq!(again.public_key_raw(), rsa.public_key_raw());
        let error = from_pem(b"nothing", "ca-dir/ca-key.pem")
            .unwrap_err()
            .to_string();
        assert!(error.contains("ca-dir/ca-key.pem"), "{error}");
    }
}
