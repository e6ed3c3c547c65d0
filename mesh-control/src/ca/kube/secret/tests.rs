use std::time::SystemTime;

use super::*;
use crate::ca::ca_dir::{new_root, new_token_key};
use crate::ca::testing::TestRoot;

fn with_data(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("mesh-system".into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[test]
fn a_new_self_signed_secret_loads_back_as_the_same_root() {
    let key = crate::ca::key::generate(crate::ca::CaKeyType::EcdsaP256).unwrap();
    let root = new_root(&key, "cluster.local", SystemTime::now()).unwrap();
    let secret = self_signed_secret("mesh-system", &root);
    assert_eq!(secret.type_.as_deref(), Some(CA_ROOT_SECRET_TYPE));
    let authority = authority_of(&secret, CaSecretKind::SelfSigned, SystemTime::now()).unwrap();
    assert_eq!(authority.bundle().pem(), root.cert_pem);
    let (_, pem) = new_token_key().unwrap();
    token_key_of(&token_key_secret("mesh-system", &pem)).unwrap();
}

#[test]
fn a_plugin_ca_whose_key_does_not_match_names_the_secret_and_keys() {
    let (root, other) = (TestRoot::new(), TestRoot::new());
    let secret = with_data(
        PLUGIN_SECRET,
        &[
            (CA_CERT, &root.pem()),
            (CA_KEY, &other.key.serialize_pem()),
            (ROOT_CERT, &root.pem()),
        ],
    );
    let error = authority_of(&secret, CaSecretKind::Plugin, SystemTime::now())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Secret mesh-system/cacerts key ca-key.pem does not match Secret mesh-system/cacerts key ca-cert.pem"),
        "{error}"
    );
}

#[test]
fn a_plugin_ca_needs_its_root_but_istio_ca_secret_does_not() {
    let root = TestRoot::new();
    let data = [(CA_CERT, root.pem()), (CA_KEY, root.key.serialize_pem())];
    let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let error = authority_of(
        &with_data(PLUGIN_SECRET, &data),
        CaSecretKind::Plugin,
        SystemTime::now(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("no (or an empty) root-cert.pem (it has ca-cert.pem, ca-key.pem)"),
        "{error}"
    );
    authority_of(
        &with_data(SELF_SIGNED_SECRET, &data),
        CaSecretKind::SelfSigned,
        SystemTime::now(),
    )
    .unwrap();
}

#[test]
fn a_damaged_token_key_says_how_to_recover() {
    let error = token_key_of(&with_data(TOKEN_KEY_SECRET, &[(TOKEN_KEY, "junk")]))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Secret mesh-system/mesh-token-signing-key key token-signing-key.pem"),
        "{error}"
    );
    assert!(error.contains("delete the Secret"), "{error}");
}
