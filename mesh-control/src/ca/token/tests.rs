use super::*;

fn key() -> TokenKey {
    TokenKey::generate().expect("a key").0
}

fn grant() -> TokenGrant {
    TokenGrant {
        identity: SpiffeId::new("cluster.local", "shop", "reviews"),
        workload: "reviews-1.shop".into(),
        ttl: Duration::from_secs(3600),
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

const T0: u64 = 1_700_000_000;

/// Replaces one of the token's three parts.
fn with_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

#[test]
fn a_token_round_trips_to_its_workload_and_identity() {
    let key = key();
    let token = key.issue(&grant(), at(T0)).unwrap();
    let verified = key.verify(&token, at(T0 + 10)).unwrap();
    assert_eq!(verified.identity, grant().identity);
    assert_eq!(verified.workload, "reviews-1.shop");
    assert_eq!(verified.expires, at(T0 + 3600));
    assert_eq!(verified.id.len(), 32);
    // The key survives being kept as PKCS#8.
    let (key, der) = TokenKey::generate().unwrap();
    let token = key.issue(&grant(), at(T0)).unwrap();
    let reloaded = TokenKey::from_pkcs8(&der).unwrap();
    assert!(reloaded.verify(&token, at(T0)).is_ok());
}

#[test]
fn an_expired_token_is_refused_after_five_seconds_of_leeway() {
    let key = key();
    let token = key.issue(&grant(), at(T0)).unwrap();
    assert!(key.verify(&token, at(T0 + 3600 + 5)).is_ok());
    let error = key.verify(&token, at(T0 + 3600 + 6)).unwrap_err();
    assert!(matches!(error, TokenError::Expired { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("expired at 2023-11-14T23:13:20Z"),
        "{error}"
    );
    let error = key.verify(&token, at(T0 - 60)).unwrap_err();
    assert!(
        matches!(error, TokenError::IssuedInTheFuture { .. }),
        "{error}"
    );
}

#[test]
fn a_tampered_payload_is_refused() {
    let key = key();
    let token = key.issue(&grant(), at(T0)).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let forged = claims.replace("/sa/reviews", "/sa/admin");
    assert_ne!(forged, claims);
    let token = with_part(&token, 1, &URL_SAFE_NO_PAD.encode(forged));
    assert_eq!(key.verify(&token, at(T0)), Err(TokenError::BadSignature));
}

#[test]
fn a_tampered_signature_is_refused() {
    let key = key();
    let token = key.issue(&grant(), at(T0)).unwrap();
    let signature = token.split('.').nth(2).unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[10] ^= 1;
    let token = with_part(&token, 2, &URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(key.verify(&token, at(T0)), Err(TokenError::BadSignature));
}

#[test]
fn a_token_of_another_key_is_refused() {
    let token = key().issue(&grant(), at(T0)).unwrap();
    assert_eq!(key().verify(&token, at(T0)), Err(TokenError::BadSignature));
}

#[test]
fn malformed_tokens_and_other_algorithms_say_what_is_wrong() {
    let key = key();
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!.b.c"] {
        let error = key.verify(bad, at(T0)).unwrap_err();
        assert!(matches!(error, TokenError::Malformed(_)), "{bad}: {error}");
        assert!(
            error.to_string().contains("meshctl token create"),
            "{error}"
        );
    }
    // `alg: none` is the classic forgery: refused before any signature is looked at.
    let token = key.issue(&grant(), at(T0)).unwrap();
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    let error = key
        .verify(&with_part(&token, 0, &none), at(T0))
        .unwrap_err();
    assert_eq!(error, TokenError::UnsupportedAlgorithm("none".into()));
}

#[test]
fn a_workload_outside_the_identity_namespace_is_refused() {
    let key = key();
    let grant = TokenGrant {
        workload: "reviews-1.other".into(),
        ..grant()
    };
    let token = key.issue(&grant, at(T0)).unwrap();
    let error = key.verify(&token, at(T0)).unwrap_err();
    assert!(matches!(error, TokenError::BadWorkload { .. }), "{error}");
}
