//! Latency samples and their percentiles.

/// Latency samples in microseconds, bounded so a long run cannot exhaust memory.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<u32>,
    /// Samples seen beyond the bound (not kept).
    pub dropped: u64,
}

/// At most this many samples are kept per recorder.
pub const SAMPLES_MAX: usize = 4_000_000;

impl Latencies {
    pub fn record(&mut self, micros: u128) {
        if self.samples.len() < SAMPLES_MAX {
            self.samples.push(u32::try_from(micros).unwrap_or(u32::MAX));
        } else {
            self.dropped += 1;
        }
    }

    pub fn merge(&mut self, other: Latencies) {
        let room = SAMPLES_MAX.saturating_sub(self.samples.len());
        let kept = other.samples.len().min(room);
        self.dropped += other.dropped + (other.samples.len() - kept) as u64;
        self.samples.extend(other.samples.into_iter().take(kept));
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// p50, p99, p99.9 in microseconds (0 when empty).
    pub fn percentiles(&mut self) -> Percentiles {
        self.samples.sort_unstable();
        Percentiles {
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
        }
    }

    fn quantile(&self, q: f64) -> u32 {
        let n = self.samples.len();
        if n == 0 {
            return 0;
        }
        let rank = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        self.samples.get(rank).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: u32,
    pub p99: u32,
    pub p999: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_1_to_1000() {
        let mut l = Latencies::default();
        for i in 1..=1000 {
            l.record(i);
        }
        let p = l.percentiles();
        assert_eq!((p.p50, p.p99, p.p999), (500, 990, 999));
    }
}
