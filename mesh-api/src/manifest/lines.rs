//! The line of every field of a YAML (or JSON) document, so that a message about
//! `spec.http[0].route[1].destination.host` can point at the line that sets it.
//!
//! serde_norway's values carry no positions, so the document's text is scanned here:
//! block mappings and sequences by their indentation, flow collections (`{a: [1, 2]}`,
//! and so JSON) by their brackets. What it cannot follow (multi-line plain scalars,
//! anchors merged with `<<`) only costs precision: a field without an entry is
//! reported at the line of its closest ancestor that has one.

use std::collections::BTreeMap;

mod flow;

use flow::FlowCursor;

/// Field path (`spec.http[0].match[1].uri.prefix`) → 1-based line in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldLines(BTreeMap<String, usize>);

impl FieldLines {
    /// Scans `text`, whose first line is line `start_line` of its file.
    pub(crate) fn scan(text: &str, start_line: usize) -> FieldLines {
        let mut scanner = Scanner {
            lines: text.lines().collect(),
            start_line,
            out: BTreeMap::new(),
        };
        scanner.block();
        FieldLines(scanner.out)
    }

    /// The line of `path`, or of its closest ancestor with a known line.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(line) = self.0.get(path) {
                return Some(*line);
            }
            path = parent(path)?;
        }
    }

    /// The lines of one subtree, re-rooted: `items[2].spec.x` becomes `spec.x` for
    /// `prefix` `items[2]` (the items of a `List` document).
    pub(crate) fn subtree(&self, prefix: &str) -> FieldLines {
        let with_dot = format!("{prefix}.");
        FieldLines(
            self.0
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(&with_dot)?.to_string(), *v)))
                .collect(),
        )
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[derive(Debug)]
enum Container {
    Map {
        indent: usize,
        path: String,
    },
    Seq {
        indent: usize,
        path: String,
        next: usize,
    },
}

struct Scanner<'a> {
    lines: Vec<&'a str>,
    start_line: usize,
    out: BTreeMap<String, usize>,
}

/// A key whose value starts on a later line: a nested block mapping or sequence.
struct Pending {
    path: String,
    indent: usize,
}

impl Scanner<'_> {
    fn record(&mut self, path: String, index: usize) {
        self.out.entry(path).or_insert(self.start_line + index);
    }

    fn block(&mut self) {
        let mut stack = vec![Container::Map {
            indent: 0,
            path: String::new(),
        }];
        let mut pending: Option<Pending> = None;
        // Lines of a block scalar (`key: |`) are text, not fields: skipped while
        // indented deeper than the key.
        let mut block_scalar_of: Option<usize> = None;
        let mut i = 0;
        while i < self.lines.len() {
            let raw = self.lines[i];
            let content = raw.trim_start();
            let indent = raw.len() - content.len();
            if content.is_empty() || content.starts_with('#') {
                i += 1;
                continue;
            }
            if let Some(key_indent) = block_scalar_of {
                if indent > key_indent {
                    i += 1;
                    continue;
                }
                block_scalar_of = None;
            }
            let is_dash = content == "-" || content.starts_with("- ");
            if let Some(p) = pending.take() {
                if is_dash && indent >= p.indent {
                    stack.push(Container::Seq {
                        indent,
                        path: p.path,
                        next: 0,
                    });
                } else if !is_dash && indent > p.indent {
                    stack.push(Container::Map {
                        indent,
                        path: p.path,
                    });
                }
            }
            while stack.len() > 1 {
                let pop = match stack.last() {
                    Some(Container::Map { indent: m, .. }) => *m > indent,
                    Some(Container::Seq { indent: s, .. }) => {
                        *s > indent || (*s == indent && !is_dash)
                    }
                    None => false,
                };
                if !pop {
                    break;
                }
                stack.pop();
            }
            let mut next_line = i + 1;
            if is_dash {
                let item_path = match stack.last_mut() {
                    Some(Container::Seq {
                        indent: s,
                        path,
                        next,
                    }) if *s == indent => {
                        let p = format!("{path}[{next}]");
                        *next += 1;
                        p
                    }
                    // A dash where no sequence can be: malformed, nothing to record.
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                self.record(item_path.clone(), i);
                let rest = content[1..].trim_start();
                let rest_col = raw.len() - rest.len();
                if rest.is_empty() {
                    pending = Some(Pending {
                        path: item_path,
                        indent,
                    });
                } else if rest.starts_with(['{', '[']) {
                    next_line = self.flow(i, rest_col, &item_path);
                } else if split_key(rest).is_some() {
                    stack.push(Container::Map {
                        indent: rest_col,
                        path: item_path.clone(),
                    });
                    let outcome = self.entry(i, rest, rest_col, &item_path);
                    next_line = next_line.max(outcome.next_line);
                    pending = outcome.pending;
                    block_scalar_of = outcome.block_scalar_of;
                }
            } else if stack.len() == 1 && content.starts_with(['{', '[']) {
                // A document that is one flow collection: JSON.
                next_line = self.flow(i, indent, "");
            } else if let Some(Container::Map { indent: m, path }) = stack.last()
                && *m == indent
            {
                let path = path.clone();
                let outcome = self.entry(i, content, indent, &path);
                next_line = next_line.max(outcome.next_line);
                pending = outcome.pending;
                block_scalar_of = outcome.block_scalar_of;
            }
            i = next_line;
        }
    }

    /// One `key: value` line of a block mapping at column `col`.
    fn entry(&mut self, i: usize, content: &str, col: usize, map_path: &str) -> EntryOutcome {
        let mut outcome = EntryOutcome {
            next_line: i + 1,
            pending: None,
            block_scalar_of: None,
        };
        let Some((key, value)) = split_key(content) else {
            return outcome;
        };
        let path = join(map_path, &key);
        self.record(path.clone(), i);
        let value = strip_properties(strip_comment(value.trim()));
        let value_col = self.lines[i].len() - value.len();
        if value.is_empty() {
            outcome.pending = Some(Pending { path, indent: col });
        } else if value.starts_with(['|', '>']) {
            outcome.block_scalar_of = Some(col);
        } else if value.starts_with(['{', '[']) {
            outcome.next_line = self.flow(i, value_col, &path);
        }
        outcome
    }

    /// A flow collection starting at line `i`, column `col`; returns the line after it.
    fn flow(&mut self, i: usize, col: usize, path: &str) -> usize {
        let mut cursor = FlowCursor {
            lines: &self.lines,
            line: i,
            col,
        };
        let mut found = Vec::new();
        cursor.value(path, &mut found);
        let end = cursor.line;
        for (p, line) in found {
            self.record(p, line);
        }
        end + 1
    }
}

struct EntryOutcome {
    next_line: usize,
    pending: Option<Pending>,
    block_scalar_of: Option<usize>,
}

/// Splits `key: value` (or `key:`) at the colon that ends the key, honouring quotes.
fn split_key(content: &str) -> Option<(String, &str)> {
    let bytes = content.as_bytes();
    if let Some(quote @ (b'"' | b'\'')) = bytes.first().copied() {
        let close = content[1..].find(quote as char)? + 1;
        let rest = content[close + 1..].trim_start();
        let value = rest.strip_prefix(':')?;
        if !(value.is_empty() || value.starts_with([' ', '\t'])) {
            return None;
        }
        return Some((content[1..close].to_string(), value));
    }
    let mut search = 0;
    while let Some(found) = content[search..].find(':') {
        let at = search + found;
        let after = &content[at + 1..];
        if after.is_empty() || after.starts_with([' ', '\t']) {
            let key = content[..at].trim_end();
            if key.is_empty() || key.starts_with(['{', '[', '#', '"', '\'']) {
                return None;
            }
            return Some((key.to_string(), after));
        }
        search = at + 1;
    }
    None
}

/// Drops a trailing ` # comment` outside quotes.
fn strip_comment(value: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in value.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => return value[..i].trim_end(),
            None => {}
        }
        previous = c;
    }
    value
}

/// Drops a leading anchor (`&name`) or tag (`!!str`) from a value.
fn strip_properties(mut value: &str) -> &str {
    while value.starts_with(['&', '!']) {
        match value.find([' ', '\t']) {
            Some(i) => value = value[i..].trim_start(),
            None => return "",
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> FieldLines {
        FieldLines::scan(text, 1)
    }

    #[test]
    fn block_mappings_and_sequences_get_their_lines() {
        let text = "apiVersion: v1\nkind: VirtualService\nmetadata:\n  name: a\nspec:\n  hosts:\n  - a\n  http:\n  - match:\n    - uri:\n        prefix: /x\n    route:\n    - destination:\n        host: b\n      weight: 10\n    - destination: {host: c, subset: v1}\n";
        let l = lines(text);
        assert_eq!(l.line_of("metadata.name"), Some(4));
        assert_eq!(l.line_of("spec.hosts[0]"), Some(7));
        assert_eq!(l.line_of("spec.http[0].match[0].uri.prefix"), Some(11));
        assert_eq!(
            l.line_of("spec.http[0].route[0].destination.host"),
            Some(14)
        );
        assert_eq!(l.line_of("spec.http[0].route[0].weight"), Some(15));
        assert_eq!(
            l.line_of("spec.http[0].route[1].destination.subset"),
            Some(16)
        );
        // Unknown fields fall back to the closest known ancestor.
        assert_eq!(
            l.line_of("spec.http[0].route[1].destination.port.number"),
            Some(16)
        );
    }

    #[test]
    fn sequences_indented_under_their_key_and_block_scalars() {
        let text = "spec:\n  ports:\n    - name: http\n      port: 80\n    - name: tcp\n      port: 81\n  note: |\n    a: not a field\n    b: neither\n  selector:\n    app: x\n";
        let l = lines(text);
        assert_eq!(l.line_of("spec.ports[1].port"), Some(6));
        assert_eq!(l.line_of("spec.selector.app"), Some(11));
        assert_eq!(l.line_of("spec.note.a"), Some(7));
    }

    #[test]
    fn json_documents_and_multi_line_flow_collections() {
        let text = "{\n  \"metadata\": {\"name\": \"a\"},\n  \"spec\": {\n    \"hosts\": [\n      \"x\",\n      \"y\"\n    ]\n  }\n}\n";
        let l = lines(text);
        assert_eq!(l.line_of("metadata.name"), Some(2));
        assert_eq!(l.line_of("spec.hosts[1]"), Some(6));
    }

    #[test]
    fn malformed_documents_end_the_scan_without_panicking() {
        for text in [
            "{a: ]",
            "[}",
            "{: :}",
            "a: [1, {b: }",
            "a: \"unterminated\n- x\n",
            "- - - \n  :\n",
            "a:\n  - b: |\n",
            "{\"a\": [\n",
        ] {
            let _ = FieldLines::scan(text, 1);
        }
        assert_eq!(
            FieldLines::scan("a: {b: ], c: 1}\n", 1).line_of("a"),
            Some(1)
        );
    }

    #[test]
    fn comments_quotes_and_subtrees() {
        let text = "items:\n- metadata: # the first\n    name: \"a: b\"\n    annotations:\n      'sidecar.istio.io/inject': \"false\"\n";
        let l = lines(text);
        assert_eq!(l.line_of("items[0].metadata.name"), Some(3));
        let item = l.subtree("items[0]");
        assert_eq!(
            item.line_of("metadata.annotations.sidecar.istio.io/inject"),
            Some(5)
        );
        assert_eq!(item.line_of("spec"), None);
    }
}
