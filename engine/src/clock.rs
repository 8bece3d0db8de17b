//! The wall clock: milliseconds since the Unix epoch, for record timestamps,
//! dead-letter and commit times and producer idle expiry. The one copy in
//! the workspace (the server and the CLI call this one too).

/// Milliseconds since the Unix epoch: 0 if the system clock is set before
/// it, `i64::MAX` if past what an `i64` holds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_ms_is_after_2020() {
        // 2020-01-01T00:00:00Z
        assert!(super::now_ms() > 1_577_836_800_000);
    }
}
