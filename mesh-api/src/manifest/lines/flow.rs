//! Flow collections (`{a: [1, 2]}`, and so JSON documents), which may span lines.

use super::join;

/// Walks a flow collection character by character, across lines.
pub(super) struct FlowCursor<'a> {
    pub(super) lines: &'a [&'a str],
    pub(super) line: usize,
    pub(super) col: usize,
}

impl FlowCursor<'_> {
    fn peek(&mut self) -> Option<char> {
        loop {
            let line = self.lines.get(self.line)?;
            match line.get(self.col..).and_then(|rest| rest.chars().next()) {
                Some(c) => return Some(c),
                None => {
                    if self.line + 1 >= self.lines.len() {
                        return None;
                    }
                    self.line += 1;
                    self.col = 0;
                }
            }
        }
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.col += c.len_utf8();
        }
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                // A comment runs to the end of its line.
                self.col = self.lines.get(self.line).map_or(0, |l| l.len());
            } else {
                break;
            }
        }
    }

    /// Skips a character a malformed collection left where an item should start
    /// (`{a: ]`), so that scanning always moves on.
    fn ensure_progress(&mut self, start: (usize, usize)) {
        if (self.line, self.col) == start {
            self.bump();
        }
    }

    /// Moves to the next item of a collection closed by `close`; false at its end
    /// (the closing bracket consumed) or at the end of the text.
    fn next_item(&mut self, close: char) -> bool {
        loop {
            self.skip_space();
            match self.peek() {
                None => return false,
                Some(c) if c == close => {
                    self.bump();
                    return false;
                }
                Some(',') => self.bump(),
                Some(_) => return true,
            }
        }
    }

    pub(super) fn value(&mut self, path: &str, found: &mut Vec<(String, usize)>) {
        self.skip_space();
        match self.peek() {
            Some('{') => {
                self.bump();
                while self.next_item('}') {
                    let start = (self.line, self.col);
                    let line = self.line;
                    let key = self.scalar(true);
                    self.skip_space();
                    let child = join(path, &key);
                    found.push((child.clone(), line));
                    if self.peek() == Some(':') {
                        self.bump();
                        self.value(&child, found);
                    }
                    self.ensure_progress(start);
                }
            }
            Some('[') => {
                self.bump();
                let mut index = 0;
                while self.next_item(']') {
                    let start = (self.line, self.col);
                    let child = format!("{path}[{index}]");
                    found.push((child.clone(), self.line));
                    self.value(&child, found);
                    index += 1;
                    self.ensure_progress(start);
                }
            }
            Some(_) => {
                self.scalar(false);
            }
            None => {}
        }
    }

    /// A quoted or plain scalar; a key ends at `:` too.
    fn scalar(&mut self, is_key: bool) -> String {
        let mut text = String::new();
        if let Some(quote @ ('"' | '\'')) = self.peek() {
            self.bump();
            while let Some(c) = self.peek() {
                self.bump();
                if c == '\\' && quote == '"' {
                    if let Some(escaped) = self.peek() {
                        text.push(escaped);
                        self.bump();
                    }
                    continue;
                }
                if c == quote {
                    break;
                }
                text.push(c);
            }
            return text;
        }
        let start_line = self.line;
        while let Some(c) = self.peek() {
            if self.line != start_line && !is_key {
                break;
            }
            let ends = matches!(c, ',' | '}' | ']') || (is_key && c == ':');
            if ends {
                break;
            }
            text.push(c);
            self.bump();
        }
        text.trim().to_string()
    }
}
