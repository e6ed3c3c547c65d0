//! Which messages are reported: istioctl's namespace filter (`-n`), its suppressions
//! (`--suppress "CODE=Kind name"` and the `galley.istio.io/analyze-suppress`
//! annotation), and its rule that a message said twice is said once.

use std::fmt;
use std::str::FromStr;

use super::AnalysisOptions;
use super::message::Message;

/// `--suppress "IST0102=Namespace default"`: drop one code for the objects matching a
/// name (`*` matches any run of characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub code: String,
    /// `Kind name.namespace` (istioctl's documented form) or `Kind namespace/name`.
    pub resource: String,
}

/// Why a `--suppress` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a suppression; write CODE=Kind name.namespace, e.g. \"IST0102=Namespace default\" or \"IST0101=VirtualService *.shop\""
)]
pub struct SuppressionError(String);

impl FromStr for Suppression {
    type Err = SuppressionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((code, resource))
                if !code.trim().is_empty()
                    && !resource.trim().is_empty()
                    && !resource.contains('=') =>
            {
                Ok(Suppression {
                    code: code.trim().to_string(),
                    resource: resource.trim().to_string(),
                })
            }
            _ => Err(SuppressionError(s.to_string())),
        }
    }
}

impl fmt::Display for Suppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.code, self.resource)
    }
}

impl Suppression {
    /// Whether this suppression drops `m`.
    fn drops(&self, m: &Message) -> bool {
        if self.code != m.code {
            return false;
        }
        // `Kind namespace/name` as origins read, and `Kind name.namespace` as istioctl's
        // help writes it.
        let dotted = match m.origin.split_once(' ') {
            Some((kind, full)) => match full.split_once('/') {
                Some((namespace, name)) => format!("{kind} {name}.{namespace}"),
                None => m.origin.clone(),
            },
            None => m.origin.clone(),
        };
        glob_matches(&self.resource, &m.origin) || glob_matches(&self.resource, &dotted)
    }
}

/// Applies the namespace filter and the suppressions, and drops repeats.
pub(crate) fn filter(messages: Vec<Message>, options: &AnalysisOptions) -> Vec<Message> {
    let mut kept: Vec<Message> = Vec::new();
    for m in messages {
        if let (Some(wanted), Some(namespace)) = (&options.namespace, &m.namespace)
            && wanted != namespace
        {
            continue;
        }
        if m.suppressed_codes.iter().any(|c| c == "*" || c == m.code) {
            continue;
        }
        if options.suppressions.iter().any(|s| s.drops(&m)) {
            continue;
        }
        if kept.iter().any(|k| k.same_as(&m)) {
            continue;
        }
        kept.push(m);
    }
    kept
}

/// Shell-style matching with `*` only, as istioctl's suppressions.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::codes;

    fn message(
        code: crate::analysis::MessageType,
        origin: &str,
        namespace: Option<&str>,
    ) -> Message {
        let mut m = Message::unlocated(
            code,
            origin.to_string(),
            None,
            None,
            "text".to_string(),
            String::new(),
        );
        m.namespace = namespace.map(str::to_string);
        m
    }

    #[test]
    fn suppressions_match_both_name_forms_with_globs() {
        let m = message(
            codes::REFERENCED_RESOURCE_NOT_FOUND,
            "VirtualService shop/reviews",
            Some("shop"),
        );
        for s in [
            "IST0101=VirtualService reviews.shop",
            "IST0101=VirtualService shop/reviews",
            "IST0101=VirtualService *.shop",
            "IST0101=*",
        ] {
            let s: Suppression = s.parse().unwrap();
            assert!(s.drops(&m), "{s}");
        }
        for s in [
            "IST0102=VirtualService reviews.shop",
            "IST0101=VirtualService *.other",
            "IST0101=DestinationRule reviews.shop",
        ] {
            let s: Suppression = s.parse().unwrap();
            assert!(!s.drops(&m), "{s}");
        }
        assert!("IST0101".parse::<Suppression>().is_err());
        assert!("IST0101=a=b".parse::<Suppression>().is_err());
    }

    #[test]
    fn namespace_filter_keeps_cluster_scoped_objects_and_repeats_are_dropped() {
        let options = AnalysisOptions {
            namespace: Some("shop".to_string()),
            ..AnalysisOptions::default()
        };
        let mut annotated = message(codes::POD_MISSING_PROXY, "Pod shop/b", Some("shop"));
        annotated.suppressed_codes = vec!["IST0103".to_string()];
        let kept = filter(
            vec![
                message(codes::POD_MISSING_PROXY, "Pod shop/a", Some("shop")),
                message(codes::POD_MISSING_PROXY, "Pod shop/a", Some("shop")),
                message(codes::POD_MISSING_PROXY, "Pod other/a", Some("other")),
                message(
                    codes::INVALID_WEBHOOK,
                    "MutatingWebhookConfiguration w",
                    None,
                ),
                annotated,
            ],
            &options,
        );
        let origins: Vec<&str> = kept.iter().map(|m| m.origin.as_str()).collect();
        assert_eq!(origins, ["Pod shop/a", "MutatingWebhookConfiguration w"]);
    }

    #[test]
    fn glob_matching() {
        assert!(glob_matches("a*c", "abbc"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("a*c", "ab"));
        assert!(glob_matches("*b*", "abc"));
        assert!(!glob_matches("a*a", "a"));
    }
}
