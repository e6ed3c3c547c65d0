//! Header operations of virtual hosts, routes and weighted clusters: built from
//! `HeaderValueOption`s and applied as Envoy applies them.

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValueOption, header_value_option::HeaderAppendAction,
};

use super::{AppendAction, HeaderAdd, HeaderOps};

impl HeaderOps {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies removals, then additions, as Envoy does.
    pub fn apply(&self, headers: &mut hyper::HeaderMap) {
        use hyper::header::{HeaderName, HeaderValue};
        for name in &self.remove {
            headers.remove(name.as_str());
        }
        for op in &self.add {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(op.name.as_bytes()),
                HeaderValue::from_str(&op.value),
            ) else {
                continue;
            };
            let present = headers.contains_key(&name);
            match op.action {
                AppendAction::AppendIfExistsOrAdd => {
                    headers.append(name, value);
                }
                AppendAction::AddIfAbsent if !present => {
                    headers.insert(name, value);
                }
                AppendAction::OverwriteIfExistsOrAdd => {
                    headers.insert(name, value);
                }
                AppendAction::OverwriteIfExists if present => {
                    headers.insert(name, value);
                }
                _ => {}
            }
        }
    }
}

pub(super) fn header_ops(
    add: &[HeaderValueOption],
    remove: &[String],
) -> Result<HeaderOps, String> {
    let mut ops = HeaderOps {
        add: Vec::with_capacity(add.len()),
        remove: remove.iter().map(|r| r.to_ascii_lowercase()).collect(),
    };
    for opt in add {
        let Some(h) = &opt.header else { continue };
        let value = if h.raw_value.is_empty() {
            h.value.clone()
        } else {
            String::from_utf8_lossy(&h.raw_value).into_owned()
        };
        #[allow(deprecated)]
        let action = match &opt.append {
            // The deprecated `append` wins when set, as in Envoy.
            Some(append) if append.value => AppendAction::AppendIfExistsOrAdd,
            Some(_) => AppendAction::OverwriteIfExistsOrAdd,
            None => match HeaderAppendAction::try_from(opt.append_action) {
                Ok(HeaderAppendAction::AppendIfExistsOrAdd) => AppendAction::AppendIfExistsOrAdd,
                Ok(HeaderAppendAction::AddIfAbsent) => AppendAction::AddIfAbsent,
                Ok(HeaderAppendAction::OverwriteIfExistsOrAdd) => {
                    AppendAction::OverwriteIfExistsOrAdd
                }
                Ok(HeaderAppendAction::OverwriteIfExists) => AppendAction::OverwriteIfExists,
                Err(_) => return Err(format!("header {:?}: unknown append_action", h.key)),
            },
        };
        ops.add.push(HeaderAdd {
            name: h.key.to_ascii_lowercase(),
            value,
            action,
        });
    }
    Ok(ops)
}
