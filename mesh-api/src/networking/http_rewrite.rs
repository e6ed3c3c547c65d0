//! What an HTTP route does instead of, or on the way to, forwarding: redirects, direct
//! responses and URI/authority rewrites.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::constraints::{at_most_one, checked_serde, required};
use crate::string_match::deserialize_regex;

/// Answers with an HTTP redirect (301 by default) instead of forwarding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "HttpRedirect",
    extend("oneOf" = [
        { "not": { "anyOf": [{ "required": ["port"] }, { "required": ["derivePort"] }] } },
        { "required": ["port"] },
        { "required": ["derivePort"] }
    ])
)]
pub struct HttpRedirect {
    /// Replaces the whole path of the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the authority (host) of the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Replaces the port of the URL; exclusive with `derivePort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Sets the port from the protocol or the request; exclusive with `port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derive_port: Option<RedirectPortSelection>,
    /// Replaces the scheme of the URL (`http`, `https`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Status code of the redirect response; default 301.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u32>,
    /// Replaces the prefix matched by the route's `uri.prefix` match with this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
}

checked_serde!(HttpRedirect);

/// How a redirect picks its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectPortSelection {
    /// 80 for `http`, 443 for `https`.
    FromProtocolDefault,
    /// The port the request came in on.
    FromRequestPort,
}

/// Answers with a fixed response instead of forwarding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpDirectResponse {
    /// HTTP status of the response. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub status: Option<u32>,
    /// Body of the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<HttpBody>,
}

/// A response body, as text or as base64-encoded bytes (at most one of the two).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "HttpBody",
    extend("oneOf" = [
        { "not": { "anyOf": [{ "required": ["string"] }, { "required": ["bytes"] }] } },
        { "required": ["string"] },
        { "required": ["bytes"] }
    ])
)]
pub struct HttpBody {
    /// The body as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// The body as base64-encoded bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub bytes: Option<String>,
}

checked_serde!(HttpBody);

/// Rewrites the request's path and authority before forwarding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRewrite {
    /// Replaces the path, or the part of it matched by a `uri.prefix` match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the authority (Host) header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Rewrites the path with a regex substitution; exclusive with `uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// A regex substitution on the path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexRewrite {
    /// RE2 regex matched against the path; checked when read.
    #[serde(
        default,
        deserialize_with = "deserialize_regex",
        skip_serializing_if = "Option::is_none"
    )]
    pub r#match: Option<String>,
    /// Replacement for the matched parts; `\1` etc. refer to capture groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
}

impl HttpRedirect {
    /// Istio's default redirect status.
    pub const DEFAULT_REDIRECT_CODE: u32 = 301;

    /// The redirect status, 301 when unset.
    pub fn redirect_code_or_default(&self) -> u32 {
        self.redirect_code.unwrap_or(Self::DEFAULT_REDIRECT_CODE)
    }

    fn check(&self) -> Result<(), String> {
        at_most_one(&[
            ("port", self.port.is_some()),
            ("derivePort", self.derive_port.is_some()),
        ])
    }
}

impl HttpBody {
    /// The body's bytes: the text's UTF-8 bytes or the decoded base64; empty when unset.
    pub fn to_bytes(&self) -> Vec<u8> {
        match (&self.string, &self.bytes) {
            (Some(text), _) => text.as_bytes().to_vec(),
            // Reading checked the base64; a body built in code with bad base64 is empty.
            (None, Some(encoded)) => decode_base64(encoded).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    fn check(&self) -> Result<(), String> {
        at_most_one(&[
            ("string", self.string.is_some()),
            ("bytes", self.bytes.is_some()),
        ])?;
        match &self.bytes {
            Some(encoded) => decode_base64(encoded).map(|_| ()),
            None => Ok(()),
        }
    }
}

/// Decodes standard, padded base64 (what Kubernetes' `format: byte` takes).
fn decode_base64(encoded: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("`bytes` is not valid base64: {encoded:?}");
    let data = encoded.trim_end_matches('=');
    if !encoded.len().is_multiple_of(4) || encoded.len() - data.len() > 2 {
        return Err(invalid());
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in data.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(invalid()),
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redirect_port_and_derive_port_are_exclusive() {
        let err = serde_json::from_value::<HttpRedirect>(
            json!({"port": 8080, "derivePort": "FROM_REQUEST_PORT"}),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("only one of `port`, `derivePort`"),
            "{err}"
        );
        let ok: HttpRedirect = serde_json::from_value(json!({"uri": "/v2"})).unwrap();
        assert_eq!(ok.redirect_code_or_default(), 301);
    }

    #[test]
    fn body_bytes_are_base64() {
        let body: HttpBody = serde_json::from_value(json!({"bytes": "aGVsbG8="})).unwrap();
        assert_eq!(body.to_bytes(), b"hello");
        let body: HttpBody = serde_json::from_value(json!({"bytes": "aGk="})).unwrap();
        assert_eq!(body.to_bytes(), b"hi");
        for bad in ["aGVsbG8", "a$==", "a==="] {
            let err = serde_json::from_value::<HttpBody>(json!({ "bytes": bad })).unwrap_err();
            assert!(err.to_string().contains("not valid base64"), "{bad}: {err}");
        }
    }

    #[test]
    fn rewrite_regex_is_checked() {
        let err = serde_json::from_value::<RegexRewrite>(json!({"match": "(", "rewrite": "/"}))
            .unwrap_err();
        assert!(err.to_string().contains("invalid regex"), "{err}");
    }
}
