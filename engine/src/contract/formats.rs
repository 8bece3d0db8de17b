//! The string formats a property may require (`uuid`, `email`, `date-time`,
//! `date`, `uri`, `ipv4`) and the RFC 3339 parse the freshness SLA's event
//! time uses. Each check is linear in the string and allocates nothing.

use crate::contract::model::Format;

/// Whether `s` has format `format`.
pub(crate) fn matches(format: Format, s: &str) -> bool {
    match format {
        Format::Uuid => is_uuid(s),
        Format::Email => is_email(s),
        Format::DateTime => parse_date_time_ms(s).is_some(),
        Format::Date => parse_date(s.as_bytes()).is_some() && s.len() == 10,
        Format::Uri => is_uri(s),
        Format::Ipv4 => s.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

/// The hex digit groups of a uuid (8-4-4-4-12), as byte ranges; a `-`
/// after each but the last.
const UUID_GROUPS: [(usize, usize); 5] = [(0, 8), (9, 13), (14, 18), (19, 23), (24, 36)];

fn is_uuid(s: &str) -> bool {
    let Ok(b) = <&[u8; 36]>::try_from(s.as_bytes()) else {
        return false;
    };
    b[8] == b'-'
        && b[13] == b'-'
        && b[18] == b'-'
        && b[23] == b'-'
        && UUID_GROUPS.iter().all(|&(from, to)| {
            b.get(from..to)
                .is_some_and(|group| group.iter().all(u8::is_ascii_hexdigit))
        })
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let atom = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    !local.is_empty()
        && local.len() <= 64
        && s.len() <= 254
        && local.chars().all(atom)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(c))
}

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    let part = b.get(from..from.checked_add(n)?)?;
    part.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// `YYYY-MM-DD` at the start of `b`: days since 1970-01-01.
fn parse_date(b: &[u8]) -> Option<i64> {
    let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// An RFC 3339 date-time (`2026-12-06T21:40:00.123+01:00`): ms since the Unix epoch.
pub(crate) fn parse_date_time_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() > 64 {
        return None;
    }
    let days = parse_date(b)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(b.get(at)? - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b.get(at + 3) == Some(&b':') => {
            let (h, m) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(matches(Format::Uuid, "123e4567-e89b-12d3-a456-426614174000"));
        assert!(!matches(Format::Uuid, "123e4567e89b12d3a456426614174000"));
        assert!(matches(Format::Email, "a.b@example.com"));
        assert!(!matches(Format::Email, "a@b"));
        assert!(!matches(Format::Email, "a b@example.com"));
        assert!(matches(Format::Date, "2024-02-29"));
        assert!(!matches(Format::Date, "2023-02-29"));
        assert!(matches(Format::Uri, "https://example.com/x?y=1"));
        assert!(!matches(Format::Uri, "not a uri"));
        assert!(matches(Format::Ipv4, "10.0.0.1"));
        assert!(!matches(Format::Ipv4, "10.0.0.256"));
    }

    /// The uuid check before it was split into groups: the reference of
    /// the differential test below.
    fn is_uuid_by_position(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    }

    /// Every byte at every position of a valid uuid (and of one a byte
    /// longer or shorter), and every length up to 40 of hex digits and
    /// dashes in every arrangement of the dashes' positions that matter:
    /// the grouped check agrees with the positional one.
    #[test]
    fn the_grouped_uuid_check_agrees_with_the_positional_one() {
        let valid = "123e4567-e89b-12d3-a456-426614174000";
        let mut checked = 0;
        for text in [valid.to_string(), format!("{valid}0"), valid[..35].to_string()] {
            for at in 0..text.len() {
                for byte in 0..=255u8 {
                    let mut bytes = text.clone().into_bytes();
                    bytes[at] = byte;
                    if let Ok(s) = std::str::from_utf8(&bytes) {
                        assert_eq!(is_uuid(s), is_uuid_by_position(s), "{s:?}");
                        checked += 1;
                    }
                }
            }
        }
        // Multi-byte characters: 36 bytes that are not 36 characters.
        for s in [
            "é23e4567-e89b-12d3-a456-42661417400",
            "123e4567-e89b-12d3-a456-4266141740€",
        ] {
            assert_eq!(is_uuid(s), is_uuid_by_position(s), "{s:?}");
        }
        for len in 0..=40 {
            for dashes in 0..32u32 {
                let s: String = (0..len)
                    .map(|i| {
                        let slot = [8, 13, 18, 23, 7].iter().position(|p| *p == i);
                        match slot {
                            Some(k) if dashes & (1 << k) != 0 => '-',
                            _ => ['a', 'F', '9', 'g'][i % 4],
                        }
                    })
                    .collect();
                assert_eq!(is_uuid(&s), is_uuid_by_position(&s), "{s:?}");
                checked += 1;
            }
        }
        assert!(checked > 36 * 128, "{checked} strings checked");
        assert!(is_uuid(valid));
    }

    #[test]
    fn date_times() {
        assert_eq!(parse_date_time_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date_time_ms("1970-01-01T01:00:00.5+01:00"), Some(500));
        assert_eq!(parse_date_time_ms("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_date_time_ms("2026-12-06T21:40:00"), None);
        assert_eq!(parse_date_time_ms("2026-13-06T21:40:00Z"), None);
    }
}
