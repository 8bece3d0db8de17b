//! `consume --format TEMPLATE`: kcat's output templates (`%k %s %o %T\n`)
//! and the same fields by name (`{key} {value} {offset}`).

use crate::output;
use millrace::StoredRecord;
use std::io::{self, Write};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Key,
    Value,
    Offset,
    Partition,
    Topic,
    TimestampMs,
    Timestamp,
    Headers,
    KeySize,
    ValueSize,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// The placeholders, for the help text and errors.
pub const PLACEHOLDERS: &str = "%k {key}, %s or %v {value}, %o {offset}, %p {partition}, %t {topic}, \
%T {timestamp_ms}, {timestamp} (RFC 3339), %h {headers} (name=value,...), %K {key_size}, %S {value_size}, \
%% and {{ }} for % { }, \\n \\t \\r \\\\ \\0";

fn named(name: &str) -> Option<Piece> {
    Some(match name {
        "key" => Piece::Key,
        "value" => Piece::Value,
        "offset" => Piece::Offset,
        "partition" => Piece::Partition,
        "topic" => Piece::Topic,
        "timestamp_ms" => Piece::TimestampMs,
        "timestamp" => Piece::Timestamp,
        "headers" => Piece::Headers,
        "key_size" => Piece::KeySize,
        "value_size" => Piece::ValueSize,
        _ => return None,
    })
}

fn percent(c: char) -> Option<Piece> {
    Some(match c {
        'k' => Piece::Key,
        's' | 'v' => Piece::Value,
        'o' => Piece::Offset,
        'p' => Piece::Partition,
        't' => Piece::Topic,
        'T' => Piece::TimestampMs,
        'h' => Piece::Headers,
        'K' => Piece::KeySize,
        'S' => Piece::ValueSize,
        _ => return None,
    })
}

impl Template {
    /// Parse `text`; an unknown placeholder or a dangling `%`, `{`, `\` is an error.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars().peekable();
        let bad = |what: String| format!("template {text:?}: {what}; placeholders: {PLACEHOLDERS}");
        while let Some(c) = chars.next() {
            let piece = match c {
                '%' => match chars.next() {
                    Some('%') => None,
                    Some(p) => Some(percent(p).ok_or_else(|| bad(format!("unknown placeholder %{p}")))?),
                    None => return Err(bad("a % at the end".into())),
                },
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    None
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    None
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    Some(named(&name).ok_or_else(|| bad(format!("unknown placeholder {{{name}}}")))?)
                }
                '\\' => {
                    let escaped = match chars.next() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('0') => '\0',
                        Some('\\') => '\\',
                        other => {
                            return Err(bad(format!(
                                "unknown escape \\{}",
                                other.map(String::from).unwrap_or_default()
                            )))
                        }
                    };
                    literal.extend(escaped.to_string().as_bytes());
                    continue;
                }
                _ => {
                    literal.extend(c.to_string().as_bytes());
                    continue;
                }
            };
            match piece {
                // `%%`, `{{`, `}}`: the character itself.
                None => literal.push(if c == '%' { b'%' } else { c as u8 }),
                Some(piece) => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    /// Write `r` through the template. Keys, values and headers are escaped
    /// (`output::bytes_text`) unless `raw`; a missing key or a null value
    /// prints nothing (as kcat does).
    pub fn write(
        &self,
        out: &mut dyn Write,
        topic: &str,
        partition: u32,
        r: &StoredRecord,
        raw: bool,
    ) -> io::Result<()> {
        let bytes = |out: &mut dyn Write, value: &[u8]| -> io::Result<()> {
            if raw {
                out.write_all(value)
            } else {
                out.write_all(output::bytes_text(value).as_bytes())
            }
        };
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.write_all(text)?,
                Piece::Key => bytes(out, r.key.as_deref().unwrap_or_default())?,
                Piece::Value => bytes(out, r.value_opt().unwrap_or_default())?,
                Piece::Offset => write!(out, "{}", r.offset)?,
                Piece::Partition => write!(out, "{partition}")?,
                Piece::Topic => bytes(out, topic.as_bytes())?,
                Piece::TimestampMs => write!(out, "{}", r.timestamp_ms)?,
                Piece::Timestamp => write!(out, "{}", output::time(r.timestamp_ms))?,
                Piece::Headers => {
                    for (i, (name, value)) in r.headers_opt().enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        bytes(out, name.as_bytes())?;
                        out.write_all(b"=")?;
                        bytes(out, value.unwrap_or_default())?;
                    }
                }
                Piece::KeySize => write!(out, "{}", r.key.as_ref().map_or(0, Vec::len))?,
                Piece::ValueSize => write!(out, "{}", r.value_opt().map_or(0, <[u8]>::len))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_styles() {
        let kcat = Template::parse("%k=%s@%o%%\\n").unwrap();
        let named = Template::parse("{key}={value}@{offset}%%\\n").unwrap();
        assert_eq!(kcat, named);
        assert!(Template::parse("%x").is_err());
        assert!(Template::parse("{nope}").is_err());
        assert!(Template::parse("50%").is_err());
        assert_eq!(
            Template::parse("{{x}}").unwrap().pieces,
            vec![Piece::Literal(b"{x}".to_vec())]
        );
    }
}
