//! Human output (aligned tables, RFC 3339 times, byte sizes) and JSON output.

use std::io::{self, Write};

/// A plain aligned table: a header row, then rows; the last column is not padded.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row. Cells hold names clients chose (topics, groups, actors,
    /// error messages): control characters are escaped so that a name can
    /// neither add a line nor drive the terminal.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|cell| millrace_server::text::escape(cell)).collect());
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                let len = cell.chars().count();
                match widths.get_mut(i) {
                    Some(w) => *w = (*w).max(len),
                    None => widths.push(len),
                }
            }
        }
        let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
            let last = cells.len().saturating_sub(1);
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i == last {
                    text.push_str(cell);
                } else {
                    let width = widths.get(i).copied().unwrap_or(0);
                    text.push_str(&format!("{cell:<width$}  "));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        line(&self.headers, out)?;
        for row in &self.rows {
            line(row, out)?;
        }
        Ok(())
    }

    pub fn print(&self) -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        self.write(&mut out)
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC with milliseconds.
pub fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("{ms}ms"),
    }
}

/// Byte counts as `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {name}")
    }
}

/// A duration in ms the way it is typed to `--retention`, `--since` and
/// the other duration flags:
/// `7d`, `1h30m`, `1d12h`, `1m30s`, `250ms`, `0s` (`crate::parse::duration`
/// reads it back); `-` for none.
pub fn duration_ms(ms: Option<u64>) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let Some(mut left) = ms else {
        return "-".to_string();
    };
    if left == 0 {
        return "0s".to_string();
    }
    let mut text = String::new();
    for (unit, size) in UNITS {
        let count = left / size;
        if count > 0 {
            text.push_str(&format!("{count}{unit}"));
            left %= size;
        }
    }
    text
}

/// `count` per second over `seconds` as `1234 records/s`, with three
/// significant digits at most below 1000 (`12.3`, `1.23`, `0.5`) and
/// `-` when no time passed.
pub fn rate(count: u64, seconds: f64) -> String {
    rate_of(count, seconds, "records")
}

/// [`rate`] of any `unit` (`batches`): `"{n} {unit}/s"` with the same precision.
pub fn rate_of(count: u64, seconds: f64, unit: &str) -> String {
    if seconds <= 0.0 || !seconds.is_finite() {
        return format!("- {unit}/s");
    }
    let per_second = count as f64 / seconds;
    let digits = match per_second {
        r if r >= 100.0 => 0,
        r if r >= 10.0 => 1,
        _ => 2,
    };
    format!("{per_second:.digits$} {unit}/s")
}

/// Bytes as text for a terminal: printable UTF-8 as is; control characters
/// and backslashes escaped as Rust writes them (`\n`, `\t`, `\u{1b}`, `\\`);
/// each byte that is not UTF-8 as `\xNN`. A record can then neither add a
/// line nor drive the terminal, and the bytes can be told apart (`--raw`
/// prints them as stored).
pub fn bytes_text(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for chunk in value.utf8_chunks() {
        out.push_str(&millrace_server::text::escape(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A value that may be null (a Kafka tombstone, a null header value) as
/// text: `(null)` for null, else as [`bytes_text`]. Only the JSON formats
/// tell a null from a value that reads `(null)`.
pub fn nullable_text(value: Option<&[u8]>) -> String {
    value.map_or_else(|| "(null)".to_string(), bytes_text)
}

/// A value that may be null into JSON: `null` for null, else as [`bytes_json`].
pub fn nullable_json(value: Option<&[u8]>) -> serde_json::Value {
    value.map_or(serde_json::Value::Null, bytes_json)
}

pub fn hex(value: &[u8]) -> String {
    value.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes into JSON: a string when UTF-8, else `{"hex": "..."}`.
pub fn bytes_json(value: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(value) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => serde_json::json!({ "hex": hex(value) }),
    }
}

/// Print one JSON value on its own line.
pub fn print_json(value: &serde_json::Value) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
    writeln!(out)
}

/// Log to stderr (colours on a terminal) at `default_level`, or as RUST_LOG says.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["xxxx".into(), "1".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A     LONGER\nxxxx  1\n");
    }

    #[test]
    fn formats() {
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes_text(&[0xff, 0x00]), "\\xff\\u{0}");
        assert_eq!(bytes_text(b"a\tb\x1b[2J\\"), "a\\tb\\u{1b}[2J\\\\");
        assert_eq!(bytes_text("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(duration_ms(Some(5_400_000)), "1h30m");
        assert_eq!(duration_ms(Some(7 * 86_400_000)), "7d");
        assert_eq!(duration_ms(Some(129_600_000)), "1d12h");
        assert_eq!(duration_ms(Some(90_250)), "1m30s250ms");
        assert_eq!(duration_ms(Some(0)), "0s");
        assert_eq!(duration_ms(None), "-");
        // What it prints is what the duration flags take.
        for ms in [
            1,
            999,
            1000,
            61_001,
            5_400_000,
            129_600_000,
            7 * 86_400_000,
            400 * 86_400_000 + 1,
        ] {
            let back = crate::parse::duration(&duration_ms(Some(ms))).map(|d| d.as_millis());
            assert_eq!(back, Ok(u128::from(ms)), "{ms}");
        }
        assert_eq!(rate(123_456, 2.0), "61728 records/s");
        assert_eq!(rate(25, 2.0), "12.5 records/s");
        assert_eq!(rate(1, 3.0), "0.33 records/s");
        assert_eq!(rate(5, 0.0), "- records/s");
    }
}
