//! Deterministic pseudo-random values of every message at every version,
//! for the codec's round-trip and differential tests
//! (`server/tests/it/kafka_codec.rs`) and fuzz seeds. Not used by the front.

use super::primitives::{Uuid, Version};

/// A splitmix64 stream; `nulls` allows null strings, bytes and arrays.
#[derive(Debug, Clone)]
pub struct Sampler {
    state: u64,
    pub nulls: bool,
}

const STRINGS: [&str; 6] = [
    "",
    "t",
    "orders",
    "topic.with-dots_9",
    "ünïcödé ✓",
    "a-much-longer-name-0123456789-0123456789",
];
const BYTES: [&[u8]; 5] = [b"", b"\x00", b"\x00\x01\x02\xff", b"consumer", &[0x5a; 300]];

impl Sampler {
    #[must_use]
    pub fn new(seed: u64, nulls: bool) -> Self {
        Self { state: seed, nulls }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> usize {
        (self.next_u64() % bound.max(1)) as usize
    }

    fn null(&mut self) -> bool {
        self.nulls && self.below(4) == 0
    }
}

/// A value drawn from a [`Sampler`], with only the fields present at
/// `version` set (the others keep their defaults).
pub trait Sample<'a>: Sized {
    fn sample(sampler: &mut Sampler, version: Version) -> Self;
}

macro_rules! sample_integer {
    ($($type:ty),*) => {$(
        impl<'a> Sample<'a> for $type {
            fn sample(sampler: &mut Sampler, _: Version) -> Self {
                // Small values, extremes and everything between.
                match sampler.below(4) {
                    0 => 0,
                    1 => <$type>::MAX,
                    2 => <$type>::MIN,
                    _ => sampler.next_u64() as $type,
                }
            }
        }
    )*};
}

sample_integer!(i8, i16, i32, i64, u32);

impl<'a> Sample<'a> for bool {
    fn sample(sampler: &mut Sampler, _: Version) -> Self {
        sampler.below(2) == 1
    }
}

impl<'a> Sample<'a> for Uuid {
    fn sample(sampler: &mut Sampler, _: Version) -> Self {
        let high = u128::from(sampler.next_u64()) << 64;
        Uuid((high | u128::from(sampler.next_u64())).to_be_bytes())
    }
}

impl<'a> Sample<'a> for &'a str {
    fn sample(sampler: &mut Sampler, _: Version) -> Self {
        STRINGS
            .get(sampler.below(STRINGS.len() as u64))
            .copied()
            .unwrap_or_default()
    }
}

impl<'a> Sample<'a> for Option<&'a str> {
    fn sample(sampler: &mut Sampler, version: Version) -> Self {
        (!sampler.null()).then(|| <&str>::sample(sampler, version))
    }
}

impl<'a> Sample<'a> for &'a [u8] {
    fn sample(sampler: &mut Sampler, _: Version) -> Self {
        BYTES
            .get(sampler.below(BYTES.len() as u64))
            .copied()
            .unwrap_or_default()
    }
}

impl<'a> Sample<'a> for Option<&'a [u8]> {
    fn sample(sampler: &mut Sampler, version: Version) -> Self {
        (!sampler.null()).then(|| <&[u8]>::sample(sampler, version))
    }
}

impl<'a, T: Sample<'a>> Sample<'a> for Vec<T> {
    fn sample(sampler: &mut Sampler, version: Version) -> Self {
        let count = sampler.below(4);
        (0..count).map(|_| T::sample(sampler, version)).collect()
    }
}

impl<'a, T: Sample<'a>> Sample<'a> for Option<Vec<T>> {
    fn sample(sampler: &mut Sampler, version: Version) -> Self {
        (!sampler.null()).then(|| Vec::sample(sampler, version))
    }
}
