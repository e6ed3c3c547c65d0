//! A Dockerfile read into stages and instructions: enough to check what the images
//! promise (users, entrypoints, base images) without a container engine.

/// One instruction: its keyword (upper case) and the rest of its logical line, with
/// continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    pub(crate) keyword: String,
    pub(crate) args: String,
}

/// A build stage: `FROM <base> [AS <name>]` and what follows until the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    pub(crate) base: String,
    pub(crate) name: Option<String>,
    pub(crate) instructions: Vec<Instruction>,
}

#[cfg(test)]
impl Stage {
    /// The arguments of every instruction with `keyword`, in order.
    pub(crate) fn all<'a>(&'a self, keyword: &str) -> impl Iterator<Item = &'a str> + 'a {
        let keyword = keyword.to_string();
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    }

    /// The last instruction with `keyword` (the one in force, for USER or ENTRYPOINT).
    pub(crate) fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }
}

/// Reads `text` into its stages. Comments, parser directives and blank lines are
/// skipped; a line ending in `\` continues on the next one.
pub(crate) fn parse(text: &str) -> Result<Vec<Stage>, String> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && logical.is_empty()) {
            continue;
        }
        if logical.is_empty() {
            start_line = number + 1;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                logical.push_str(part.trim_end());
                logical.push(' ');
            }
            None => {
                logical.push_str(trimmed);
                let instruction = std::mem::take(&mut logical);
                add(&mut stages, &instruction, start_line)?;
            }
        }
    }
    if !logical.is_empty() {
        return Err(format!(
            "line {start_line}: the file ends inside a continued instruction"
        ));
    }
    Ok(stages)
}

fn add(stages: &mut Vec<Stage>, instruction: &str, line: usize) -> Result<(), String> {
    let (keyword, args) = instruction
        .split_once(char::is_whitespace)
        .unwrap_or((instruction, ""));
    let keyword = keyword.to_ascii_uppercase();
    let args = args.trim().to_string();
    if keyword == "FROM" {
        let words: Vec<&str> = args.split_whitespace().collect();
        let (base, name) = match words.as_slice() {
            [base] => (*base, None),
            [base, r#as, name] if r#as.eq_ignore_ascii_case("as") => (*base, Some(*name)),
            _ => return Err(format!("line {line}: FROM takes `<image> [AS <name>]`")),
        };
        stages.push(Stage {
            base: base.to_string(),
            name: name.map(str::to_string),
            instructions: Vec::new(),
        });
        return Ok(());
    }
    match stages.last_mut() {
        Some(stage) => {
            stage.instructions.push(Instruction { keyword, args });
            Ok(())
        }
        // ARG may precede the first FROM; nothing else may.
        None if keyword == "ARG" => Ok(()),
        None => Err(format!("line {line}: {keyword} before the first FROM")),
    }
}

#[cfg(test)]
/// The tag of an image reference (`registry/repo:tag`, `repo:tag@sha256:…`), if any.
pub(crate) fn tag(reference: &str) -> Option<&str> {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_component = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_component.split_once(':').map(|(_, tag)| tag)
}

#[cfg(test)]
/// The argv of an exec-form `ENTRYPOINT`/`CMD` (`["/bin/x", "arg"]`).
pub(crate) fn exec_form(args: &str) -> Option<Vec<String>> {
    serde_json::from_str(args).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_instructions_and_continuations() {
        let text = "# syntax=docker/dockerfile:1\nARG X=1\nFROM rust:1.89 AS builder\nRUN a \\\n    && b\n\nFROM debian:bookworm-slim\nuser 1337\n";
        let stages = parse(text).expect("parses");
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].name.as_deref(), Some("builder"));
        assert_eq!(stages[0].last("RUN"), Some("a && b"));
        assert_eq!(stages[1].name, None);
        assert_eq!(stages[1].last("USER"), Some("1337"));
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert!(parse("RUN x\n").unwrap_err().contains("line 1"));
        assert!(parse("FROM a\nRUN x \\\n").unwrap_err().contains("line 2"));
        assert!(parse("FROM a b c d\n").unwrap_err().contains("FROM takes"));
    }

    #[test]
    fn tags_are_read_past_registry_ports_and_digests() {
        assert_eq!(tag("docker.io/library/rust:1.89-slim"), Some("1.89-slim"));
        assert_eq!(tag("localhost:5000/app"), None);
        assert_eq!(
            tag("gcr.io/distroless/cc-debian12:nonroot@sha256:ab"),
            Some("nonroot")
        );
        assert_eq!(tag("debian"), None);
    }
}
