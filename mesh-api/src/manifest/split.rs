//! Splits a multi-document YAML stream into documents, remembering where each starts.
//!
//! We split the text ourselves (rather than letting serde_norway iterate documents) so
//! that each document can be deserialized straight from its text: errors then carry
//! line numbers, which a `serde_norway::Value` would have lost.

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentText<'a> {
    /// 1-based index of the document in the file, counting only non-empty documents.
    pub(crate) index: usize,
    /// 1-based line of the file on which the document's content starts.
    pub(crate) first_line: usize,
    /// 1-based line of the file on which `text` starts (before leading comments).
    pub(crate) text_line: usize,
    pub(crate) text: &'a str,
}

/// Splits `text` at `---` and `...` marker lines; documents with nothing but blank
/// lines and comments are dropped (as `kubectl apply` drops them).
pub(crate) fn split_documents(text: &str) -> Vec<DocumentText<'_>> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        if is_marker(line) {
            push_document(&mut docs, &text[start_byte..offset], start_line);
            // A directives-end marker may carry content (`--- {a: 1}`): keep it in the next document.
            let rest = line.get(3..).unwrap_or("");
            if line.starts_with("---")
                && !rest.trim().is_empty()
                && !rest.trim_start().starts_with('#')
            {
                start_byte = offset + 3;
                start_line = line_no + 1;
            } else {
                start_byte = offset + line.len();
                start_line = line_no + 2;
            }
        }
        offset += line.len();
    }
    push_document(&mut docs, &text[start_byte..], start_line);
    docs
}

fn is_marker(line: &str) -> bool {
    let line = line.trim_end_matches(['\n', '\r']);
    ["---", "..."].iter().any(|m| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

fn push_document<'a>(docs: &mut Vec<DocumentText<'a>>, text: &'a str, first_line: usize) {
    let has_content = text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#')
    });
    if has_content {
        // Report the line of the first content line, not of leading comments.
        let leading = text
            .lines()
            .take_while(|l| l.trim().is_empty() || l.trim().starts_with('#'))
            .count();
        docs.push(DocumentText {
            index: docs.len() + 1,
            first_line: first_line + leading,
            text_line: first_line,
            text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_markers_and_drops_empty_documents() {
        let text = "# header\n---\na: 1\n---\n\n# only a comment\n---\nb: 2\nc: |\n  text\n...\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].first_line), (1, 3));
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!((docs[1].index, docs[1].first_line), (2, 8));
        assert_eq!(docs[1].text, "b: 2\nc: |\n  text\n");
    }

    #[test]
    fn a_file_without_markers_is_one_document() {
        let docs = split_documents("kind: Service\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].first_line, 1);
    }

    #[test]
    fn dashes_inside_a_value_are_not_markers() {
        let docs = split_documents("a: ---\nb: '---'\n----\n");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn content_on_the_marker_line_stays_in_the_document() {
        let docs = split_documents("--- {a: 1}\n--- # comment\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text.trim(), "{a: 1}");
        assert_eq!(docs[1].text, "b: 2\n");
    }
}
