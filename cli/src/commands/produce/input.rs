//! `produce`'s input, binary-safe: records split at newlines (a `\r`
//! before it dropped, empty lines skipped) or at any byte string (`-D`,
//! exact: nothing dropped), and the encodings of values and keys given as
//! text (`--value-encoding base64|hex`, `{"hex": ..}` in JSON Lines).

use base64::Engine as _;
use clap::ValueEnum;
use std::io::{self, BufRead};

/// How a value or key is written in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// The bytes as they are.
    Text,
    /// Standard base64 (RFC 4648, with or without padding).
    Base64,
    /// Hexadecimal, two digits per byte.
    Hex,
}

impl Encoding {
    /// The bytes `text` stands for.
    pub fn decode(self, text: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Text => Ok(text.to_vec()),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text.trim_ascii())
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim_ascii()))
                .map_err(|e| format!("not base64: {e}")),
            Encoding::Hex => hex_decode(text.trim_ascii()),
        }
    }
}

/// `0a1B..` into bytes.
pub fn hex_decode(text: &[u8]) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("not hex: an odd number of digits ({})", text.len()));
    }
    let digit = |c: u8| -> Result<u8, String> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or_else(|| format!("not hex: {:?} is not a hex digit", char::from(c)))
    };
    text.chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Ok(digit(*high)? << 4 | digit(*low)?),
            _ => Err("not hex".to_string()),
        })
        .collect()
}

/// A record delimiter (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiter(pub Vec<u8>);

/// A delimiter as typed: `\n`, `\t`, `\r`, `\0`, `\\` and `\xNN` escapes,
/// anything else as its UTF-8 bytes. Never empty.
pub fn delimiter(text: &str) -> Result<Delimiter, String> {
    let mut out = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some((&e, tail)) = rest.split_first() else {
            return Err(format!("{text:?}: a \\ at the end"));
        };
        rest = tail;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let (digits, tail) = rest.split_at(rest.len().min(2));
                rest = tail;
                out.extend(hex_decode(digits).map_err(|e| format!("{text:?}: \\x needs two hex digits ({e})"))?);
            }
            other => return Err(format!("{text:?}: unknown escape \\{}", char::from(other))),
        }
    }
    if out.is_empty() {
        return Err("the delimiter is empty".into());
    }
    Ok(Delimiter(out))
}

/// Splits input into records.
pub struct Records {
    input: Box<dyn BufRead>,
    /// `None`: lines (newline, `\r\n`, empty lines skipped).
    delimiter: Option<Vec<u8>>,
    done: bool,
}

impl Records {
    pub fn new(input: Box<dyn BufRead>, delimiter: Option<Vec<u8>>) -> Self {
        Records {
            input,
            delimiter,
            done: false,
        }
    }

    /// The next record's bytes (`Some(empty)` for an empty line in lines
    /// mode, which the caller skips), or `None` at the end.
    pub fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let Some(delimiter) = &self.delimiter else {
            let mut line = Vec::new();
            if self.input.read_until(b'\n', &mut line)? == 0 {
                self.done = true;
                return Ok(None);
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            return Ok(Some(line));
        };
        let last = delimiter.last().copied().unwrap_or(b'\n');
        let mut record = Vec::new();
        loop {
            if self.input.read_until(last, &mut record)? == 0 || record.last() != Some(&last) {
                // The end of the input: the rest is the last record (none
                // when the input ended with the delimiter).
                self.done = true;
                return Ok((!record.is_empty()).then_some(record));
            }
            if record.ends_with(delimiter) {
                record.truncate(record.len() - delimiter.len());
                return Ok(Some(record));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], delimiter: Option<&str>) -> Vec<Vec<u8>> {
        let mut records = Records::new(
            Box::new(io::Cursor::new(input.to_vec())),
            delimiter.map(|d| super::delimiter(d).unwrap().0),
        );
        let mut out = Vec::new();
        while let Some(r) = records.next_record().unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn splits_lines_and_delimiters() {
        assert_eq!(split(b"a\r\n\nb", None), vec![b"a".to_vec(), vec![], b"b".to_vec()]);
        assert_eq!(
            split(b"a\nb\0\0c\n\0\0", Some("\\0\\0")),
            vec![b"a\nb".to_vec(), b"c\n".to_vec()]
        );
        assert_eq!(split(b"x;;y;", Some(";")), vec![b"x".to_vec(), vec![], b"y".to_vec()]);
        assert_eq!(split(b"ab\xff--c", Some("--")), vec![b"ab\xff".to_vec(), b"c".to_vec()]);
        assert_eq!(split(b"a-b--", Some("--")), vec![b"a-b".to_vec()]);
    }

    #[test]
    fn decodes() {
        assert_eq!(Encoding::Hex.decode(b"00fFa0").unwrap(), vec![0, 0xff, 0xa0]);
        assert!(Encoding::Hex.decode(b"0").is_err());
        assert!(Encoding::Hex.decode(b"zz").is_err());
        assert_eq!(Encoding::Base64.decode(b"AP8=").unwrap(), vec![0, 0xff]);
        assert_eq!(Encoding::Base64.decode(b"AP8").unwrap(), vec![0, 0xff]);
        assert!(Encoding::Base64.decode(b"!!").is_err());
        assert_eq!(delimiter("\\x00|").unwrap().0, vec![0, b'|']);
        assert!(delimiter("").is_err());
        assert!(delimiter("\\q").is_err());
    }
}
