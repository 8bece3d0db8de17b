//! Parsers for command-line values: durations (`1h30m`, ISO 8601 `PT1H30M`),
//! times (RFC 3339 or ms since the epoch), byte sizes (`64MiB`), headers
//! (`name=value`), durability modes.

use std::time::Duration;

/// `1h30m`, `90s`, `7d` (humantime) or ISO 8601 `PT1H30M`, `P7D`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Some(iso) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) {
        return iso_duration(iso)
            .ok_or_else(|| format!("{text:?} is not an ISO 8601 duration; examples: PT1H30M, P7D, PT45S"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); examples: 1h30m, 90s, 7d, PT1H30M"))
}

/// The part of an ISO 8601 duration after `P` (days, hours, minutes, seconds; weeks).
fn iso_duration(text: &str) -> Option<Duration> {
    let mut seconds: f64 = 0.0;
    let mut number = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in text.chars() {
        match c.to_ascii_uppercase() {
            'T' if !in_time && number.is_empty() => in_time = true,
            d if d.is_ascii_digit() || d == '.' => number.push(d),
            unit => {
                let n: f64 = number.parse().ok()?;
                number.clear();
                any = true;
                seconds += n * match (in_time, unit) {
                    (false, 'W') => 604_800.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3_600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return None,
                };
            }
        }
    }
    (any && number.is_empty() && seconds.is_finite()).then(|| Duration::from_secs_f64(seconds))
}

/// RFC 3339 (`2026-11-25T18:00:00Z`) or integer milliseconds since the epoch.
/// Returns milliseconds since the epoch.
pub fn time_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("{text:?} is not an RFC 3339 time ({e}); example: 2026-11-25T18:00:00Z, or ms since the epoch")
        })
}

/// `4096`, `64KiB`, `64MiB`, `1GiB`, `10MB`, `1G` (K/M/G alone mean KiB/MiB/GiB).
pub fn bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte size; examples: 4096, 64KiB, 64MiB, 1GiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}; use B, KiB, MiB, GiB, KB, MB, GB"
            ))
        }
    };
    n.checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `name=value` (the value may be empty or contain `=`).
pub fn header(text: &str) -> Result<(String, Vec<u8>), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not a header; write name=value"))?;
    if name.is_empty() {
        return Err(format!("{text:?}: the header name is empty; write name=value"));
    }
    Ok((name.to_string(), value.as_bytes().to_vec()))
}

/// A half-open range `[from, to)` from two flags: empty or reversed (from
/// >= to) is an error naming both flags, values shown by `show`.
pub fn half_open<T: PartialOrd + Copy>(
    (from_flag, from): (&str, Option<T>),
    (to_flag, to): (&str, Option<T>),
    show: impl Fn(T) -> String,
) -> Result<(), String> {
    match (from, to) {
        (Some(from), Some(to)) if from >= to => Err(format!(
            "{from_flag} {} {to_flag} {} is an empty range: ranges are half-open, [from, to), so {to_flag} must be greater",
            show(from),
            show(to)
        )),
        _ => Ok(()),
    }
}

/// `always`, `os` or `interval:<ms>`.
pub fn durability(text: &str) -> Result<millrace::Durability, String> {
    millrace::Durability::parse(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(duration("PT1H30M").unwrap(), Duration::from_secs(5400));
        assert_eq!(duration("P7D").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(duration("P1DT2S").unwrap(), Duration::from_secs(86402));
        assert!(duration("PT").is_err());
        assert!(duration("P1H").is_err());
        assert!(duration("soon").is_err());
    }

    #[test]
    fn times_sizes_headers() {
        assert_eq!(time_ms("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(time_ms("1970-01-01T01:00:01+01:00").unwrap(), 1000);
        assert_eq!(time_ms("42").unwrap(), 42);
        assert!(time_ms("yesterday").is_err());
        assert_eq!(bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(bytes("10MB").unwrap(), 10_000_000);
        assert_eq!(bytes("4096").unwrap(), 4096);
        assert!(bytes("1XB").is_err());
        assert_eq!(header("a=b=c").unwrap(), ("a".to_string(), b"b=c".to_vec()));
        assert!(header("nope").is_err());
    }
}
