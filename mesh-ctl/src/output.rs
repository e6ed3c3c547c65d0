//! Terminal output: colors only for people (a terminal, no `NO_COLOR`).

use std::io::IsTerminal;

use mesh_api::analysis::Level;

/// Whether stdout should get ANSI colors.
pub(crate) fn use_color(requested: Option<bool>) -> bool {
    requested.unwrap_or_else(|| {
        std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var("TERM").map_or(true, |t| t != "dumb")
    })
}

pub(crate) fn paint_level(level: Level, color: bool) -> String {
    let text = level.to_string();
    if !color {
        return text;
    }
    let code = match level {
        Level::Error => "1;31",
        Level::Warning => "1;33",
        Level::Info => "1;36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

pub(crate) fn dim(text: &str, color: bool) -> String {
    if color {
        format!("\x1b[2m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
