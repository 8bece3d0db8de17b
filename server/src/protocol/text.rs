//! Text a client chose (client names, topic, group and producer names),
//! made safe to print: in logs and terminal output every control character
//! (newline, ESC, ...) is escaped, so a name can neither forge a log line nor
//! drive the terminal.

/// `text` with control characters (and backslashes) escaped as Rust does
/// (`\n`, `\u{1b}`); printable text, quotes included, is unchanged.
pub fn escape(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` in double quotes, escaped for a message (`"a\nb"`).
pub fn escape_quoted(text: &str) -> String {
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("orders"), "orders");
        assert_eq!(escape("a\nb\x1b[31mc\\"), "a\\nb\\u{1b}[31mc\\\\");
        assert_eq!(escape("caf\u{e9} \"x\""), "caf\u{e9} \"x\"");
        assert!(!escape("\r\t\u{7f}\u{9b}").chars().any(char::is_control));
    }
}
