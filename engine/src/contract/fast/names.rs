//! The names a fast check looks a key (JSON) or a field (Avro) up by,
//! resolved once when a schema is compiled for a contract: each name's
//! property in the plan and the bits of the contract's rules that name it.
//! A key is found by its length and its first 16 bytes as two words (no
//! `memcmp` call for names up to 16 bytes), instead of comparing it with
//! each property's and each rule's name per record.

use super::TRACKED_MAX;

/// One name: where it is in the plan and which rules name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    /// The property's index in the plan (`None`: only rules name it).
    pub(crate) property: Option<usize>,
    /// The bits of the rules naming it.
    pub(crate) bits: u64,
    /// Whether `observe` picks it (a windowed rule or freshness names it):
    /// the check's reader keeps its value for `observe`.
    pub(crate) picked: bool,
}

#[derive(Debug)]
struct Entry {
    len: usize,
    words: (u64, u64),
    /// The name's bytes past the 16 the words hold.
    tail: Box<[u8]>,
    named: Named,
}

/// The first 8 bytes of `bytes` as a little-endian word, zero-padded. A
/// shorter slice is read as two overlapping loads (its first and last 4
/// or 2 bytes, the overlap equal in both), not byte by byte.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    if let Some(head) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*head);
    }
    let n = bytes.len();
    if let (Some(lo), Some(hi)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        return u64::from(u32::from_le_bytes(*lo)) | (u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4)));
    }
    if let (Some(lo), Some(hi)) = (bytes.first_chunk::<2>(), bytes.last_chunk::<2>()) {
        return u64::from(u16::from_le_bytes(*lo)) | (u64::from(u16::from_le_bytes(*hi)) << (8 * (n - 2)));
    }
    bytes.first().map_or(0, |b| u64::from(*b))
}

/// The first 16 bytes of `bytes` as two words (tuples and integers compare
/// inline; arrays and slices of them went through a `memcmp` call).
#[inline]
fn words(bytes: &[u8]) -> (u64, u64) {
    (word(bytes), word(bytes.get(8..).unwrap_or_default()))
}

/// A plan's property names and a contract's rule names, resolved.
#[derive(Debug, Default)]
pub(crate) struct Names {
    entries: Vec<Entry>,
    /// How many rules the bits were resolved against (a check given
    /// another number of rules cannot use them).
    rules: usize,
}

impl Names {
    /// The names of `properties` (in plan order) and of `rules` (in
    /// contract order; more than [`TRACKED_MAX`] and no rule bit is set).
    pub(crate) fn new(properties: &[&str], rules: &[&str]) -> Names {
        Names::with_picks(properties, rules, &[])
    }

    /// [`Names::new`], each name also marked whether it is one of `picks`
    /// (the top-level fields `observe` picks).
    pub(crate) fn with_picks(properties: &[&str], rules: &[&str], picks: &[&str]) -> Names {
        let bits_of = |name: &str| {
            if rules.len() > TRACKED_MAX {
                return 0;
            }
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| **r == name)
                .fold(0u64, |bits, (i, _)| bits | (1u64 << i))
        };
        let entry = |name: &str, property: Option<usize>| Entry {
            len: name.len(),
            words: words(name.as_bytes()),
            tail: name.as_bytes().get(16..).unwrap_or_default().into(),
            named: Named {
                property,
                bits: bits_of(name),
                picked: picks.contains(&name),
            },
        };
        let mut entries: Vec<Entry> = Vec::new();
        for (i, name) in properties.iter().enumerate() {
            // A repeated property name: the first is the one found (as `position` did).
            if !properties.get(..i).unwrap_or_default().contains(name) {
                entries.push(entry(name, Some(i)));
            }
        }
        for (i, name) in rules.iter().enumerate() {
            if !properties.contains(name) && !rules.get(..i).unwrap_or_default().contains(name) {
                entries.push(entry(name, None));
            }
        }
        for (i, name) in picks.iter().enumerate() {
            let known = properties.contains(name) || rules.contains(name);
            if !known && !picks.get(..i).unwrap_or_default().contains(name) {
                entries.push(entry(name, None));
            }
        }
        Names {
            entries,
            rules: rules.len(),
        }
    }

    /// Whether the rule bits were resolved against `rules` rules.
    pub(crate) fn resolved_for(&self, rules: usize) -> bool {
        self.rules == rules
    }

    /// What `key` names (`None`: neither a property nor a rule).
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&Named> {
        let bytes = key.as_bytes();
        let (len, w) = (bytes.len(), words(bytes));
        self.entries
            .iter()
            .find(|e| {
                e.len == len
                    && e.words.0 == w.0
                    && e.words.1 == w.1
                    && (len <= 16 || *e.tail == *bytes.get(16..).unwrap_or_default())
            })
            .map(|e| &e.named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Names sharing prefixes and lengths around the 8- and 16-byte words.
    fn name() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["", "a", "order_id", "customer_", "created_at_and_more", "é"]),
            "[ab]{0,3}",
        )
            .prop_map(|(head, tail)| format!("{head}{tail}"))
    }

    #[test]
    fn a_short_name_is_read_as_its_zero_padded_word() {
        let bytes = *b"abcdefghij";
        for n in 0..=bytes.len() {
            let name = bytes.get(..n).unwrap();
            let mut padded = [0u8; 8];
            for (d, s) in padded.iter_mut().zip(name) {
                *d = *s;
            }
            assert_eq!(word(name), u64::from_le_bytes(padded), "{n} bytes");
        }
    }

    proptest! {
        /// The table finds what comparing with each property's and each
        /// rule's name finds (the lookup it replaces).
        #[test]
        fn the_table_finds_what_comparing_each_name_finds(
            properties in prop::collection::vec(name(), 0..8),
            rules in prop::collection::vec(name(), 0..6),
            keys in prop::collection::vec(name(), 1..16),
        ) {
            let p: Vec<&str> = properties.iter().map(String::as_str).collect();
            let r: Vec<&str> = rules.iter().map(String::as_str).collect();
            let names = Names::new(&p, &r);
            for key in keys.iter().chain(&properties).chain(&rules) {
                let property = p.iter().position(|n| n == key);
                let bits = r.iter().enumerate().filter(|(_, n)| *n == key).fold(0u64, |b, (i, _)| b | (1 << i));
                let expected = (property.is_some() || bits != 0).then_some(Named { property, bits, picked: false });
                prop_assert_eq!(names.get(key).cloned(), expected, "{:?} in {:?} / {:?}", key, p, r);
            }
        }
    }
}
