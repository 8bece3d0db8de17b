//! Records encoded once, as a batch's body holds them: a transaction's
//! staged part (design/durability.md, "Transactions"). The commit record
//! embeds these bytes behind a batch header, and the commit writes them to
//! the partition behind another ([`crate::log::batch::encode_encoded`]):
//! no record is decoded, cloned or encoded again on the way.

use crate::log::record::{encode_record, AppendRecord, Record, RECORD_FIXED_SIZE};

/// Byte position of a record's timestamp within its encoding (after its
/// length, design/format.md "Record").
const TIMESTAMP_AT: usize = 4;

/// Records encoded in order into one body.
#[derive(Debug, Clone, Default)]
pub(crate) struct EncodedRecords {
    body: Vec<u8>,
    /// Byte position of each record in `body`.
    starts: Vec<usize>,
    /// Records staged without a timestamp: they get the commit's time
    /// ([`EncodedRecords::stamp_untimed`]).
    untimed: Vec<usize>,
    /// Does a record hold a null (the batch is then version 2)?
    nulls: bool,
    /// The largest record's encoded length (checked against the target's
    /// limits again at commit).
    largest: usize,
    /// CRC-32 of `body` as it is, once computed ([`EncodedRecords::seal_crc`]):
    /// every batch made of the whole body derives its CRC from it instead
    /// of hashing the body again. Cleared by any change to the body.
    crc: Option<u32>,
}

impl EncodedRecords {
    /// `records` encoded (their timestamps as they are; none stays untimed).
    pub(crate) fn from_records(records: &[Record]) -> EncodedRecords {
        let mut encoded = EncodedRecords::default();
        encoded.body.reserve(records.iter().map(Record::encoded_len).sum());
        for record in records {
            encoded.push(record);
        }
        encoded
    }

    /// One record without key or headers whose value `value` writes (the
    /// transaction's commit record: written in place, not copied into a
    /// [`Record`] first).
    pub(crate) fn one_value(timestamp_ms: i64, capacity: usize, value: impl FnOnce(&mut Vec<u8>)) -> EncodedRecords {
        let mut body = Vec::with_capacity(capacity + RECORD_FIXED_SIZE);
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&timestamp_ms.to_le_bytes());
        body.extend_from_slice(&(-1i32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        let value_at = body.len();
        value(&mut body);
        let value_len = body.len() - value_at;
        body.extend_from_slice(&0u16.to_le_bytes());
        let record_len = body.len();
        if let Some(dst) = body.get_mut(..4) {
            dst.copy_from_slice(&(record_len as u32).to_le_bytes());
        }
        if let Some(dst) = body.get_mut(value_at - 4..value_at) {
            dst.copy_from_slice(&(value_len as u32).to_le_bytes());
        }
        EncodedRecords {
            body,
            starts: vec![0],
            untimed: Vec::new(),
            nulls: false,
            largest: record_len,
            crc: None,
        }
    }

    /// Room for `bytes` more encoded bytes.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.body.reserve(bytes);
    }

    /// Encode `record` (owned or borrowed) after the others.
    pub(crate) fn push<R: AppendRecord + ?Sized>(&mut self, record: &R) {
        let index = self.starts.len();
        let timestamp_ms = record.timestamp_ms().unwrap_or_else(|| {
            self.untimed.push(index);
            0
        });
        self.push_at(record, timestamp_ms);
    }

    /// Encode `record` after the others with `timestamp_ms` as its time
    /// (a log-append-time topic's stamp).
    pub(crate) fn push_at<R: AppendRecord + ?Sized>(&mut self, record: &R, timestamp_ms: i64) {
        self.crc = None;
        self.starts.push(self.body.len());
        let len = encode_record(&mut self.body, record, timestamp_ms);
        self.nulls |= record.holds_nulls();
        self.largest = self.largest.max(len);
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// The largest record's encoded length.
    pub(crate) fn largest(&self) -> usize {
        self.largest
    }

    /// Does a record hold a null?
    pub(crate) fn holds_nulls(&self) -> bool {
        self.nulls
    }

    /// Give each record staged without a timestamp `ms` (the commit time,
    /// as the batch encoding gives a record without one its append time).
    pub(crate) fn stamp_untimed(&mut self, ms: i64) {
        if !self.untimed.is_empty() {
            self.crc = None;
        }
        for index in std::mem::take(&mut self.untimed) {
            let Some(at) = self.starts.get(index).map(|start| start + TIMESTAMP_AT) else {
                continue;
            };
            if let Some(dst) = self.body.get_mut(at..at + 8) {
                dst.copy_from_slice(&ms.to_le_bytes());
            }
        }
    }

    /// Hash the body once, now that it is final (a transaction's part at
    /// its commit): the commit record's embedded batch, the commit record's
    /// own CRC, its batch in `__transactions` and the partition's batch all
    /// derive their CRCs from this one pass ([`crc_with_known`]).
    pub(crate) fn seal_crc(&mut self) {
        self.crc = Some(crc32fast::hash(&self.body));
    }

    /// Set the body's CRC from the CRCs already known of some of its spans
    /// ([`crc_with_known`]): only the bytes between them are hashed.
    pub(crate) fn seal_crc_with_known(&mut self, known: &[(usize, usize, u32)]) {
        self.crc = Some(crc_with_known(&self.body, known));
    }

    /// The records from index `from` on, cut into consecutive slices of at
    /// most `batch_bytes_max` bytes with a batch header (a record larger
    /// than that alone still gets a slice of its own, which the partition
    /// then refuses; the transaction's checks prevent it).
    pub(crate) fn batches(&self, from: usize, batch_bytes_max: u64) -> Vec<EncodedSlice<'_>> {
        let header = crate::log::batch::HEADER_SIZE as u64;
        let mut slices = Vec::new();
        let mut first = from;
        while first < self.starts.len() {
            let begin = self.start_of(first);
            let mut end_index = first;
            while end_index < self.starts.len() {
                let end = self.start_of(end_index + 1);
                if end_index > first && header + (end - begin) as u64 > batch_bytes_max {
                    break;
                }
                end_index += 1;
            }
            let end = self.start_of(end_index);
            slices.push(EncodedSlice {
                body: self.body.get(begin..end).unwrap_or_default(),
                count: (end_index - first) as u32,
                nulls: self.nulls,
                // The whole body in one batch: its CRC is known.
                crc: self.crc.filter(|_| begin == 0 && end == self.body.len()),
            });
            first = end_index;
        }
        slices
    }

    /// Where record `index` starts (the body's end past the last).
    fn start_of(&self, index: usize) -> usize {
        self.starts.get(index).copied().unwrap_or(self.body.len())
    }

    /// Every record, as one slice.
    pub(crate) fn all(&self) -> EncodedSlice<'_> {
        EncodedSlice {
            body: &self.body,
            count: self.starts.len() as u32,
            nulls: self.nulls,
            crc: self.crc,
        }
    }
}

/// CRC-32 of `bytes` where the CRCs of some spans are known: `known` holds
/// (start, end, CRC of `bytes[start..end]`), in order and apart; only the
/// bytes between them are hashed, the known ones combined in
/// (`crc32fast::Hasher::combine`, a few hundred operations whatever the
/// length). The result is the CRC of the whole, as `crc32fast::hash` gives.
pub(crate) fn crc_with_known(bytes: &[u8], known: &[(usize, usize, u32)]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    let mut at = 0;
    for &(start, end, crc) in known {
        hasher.update(bytes.get(at..start).unwrap_or_default());
        hasher.combine(&crc32fast::Hasher::new_with_initial_len(
            crc,
            end.saturating_sub(start) as u64,
        ));
        at = end;
    }
    hasher.update(bytes.get(at..).unwrap_or_default());
    hasher.finalize()
}

/// Consecutive encoded records: a batch's body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodedSlice<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) count: u32,
    pub(crate) nulls: bool,
    /// CRC-32 of `body`, when known: the batch's CRC is derived from it.
    pub(crate) crc: Option<u32>,
}

impl EncodedSlice<'_> {
    /// The first record's timestamp and the largest, read from the records.
    pub(crate) fn timestamps(&self) -> (i64, i64) {
        let mut first = None;
        let mut max = i64::MIN;
        let mut rest = self.body;
        for _ in 0..self.count {
            let (Some(len), Some(timestamp)) = (rest.first_chunk::<4>(), rest.get(TIMESTAMP_AT..TIMESTAMP_AT + 8))
            else {
                break;
            };
            let mut ts = [0u8; 8];
            ts.copy_from_slice(timestamp);
            let timestamp = i64::from_le_bytes(ts);
            first.get_or_insert(timestamp);
            max = max.max(timestamp);
            rest = rest.get(u32::from_le_bytes(*len) as usize..).unwrap_or_default();
        }
        let first = first.unwrap_or(0);
        (first, if max == i64::MIN { first } else { max })
    }

    /// The encoded length of the batch with its header.
    pub(crate) fn batch_len(&self) -> usize {
        crate::log::batch::HEADER_SIZE + self.body.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch;

    #[test]
    fn encoded_records_make_the_same_batch_as_the_records() {
        let records: Vec<Record> = (0..5u8)
            .map(|i| Record {
                key: (i % 2 == 0).then(|| vec![i; 3]),
                value: vec![i; 100 + usize::from(i)],
                headers: vec![("h".into(), vec![i])],
                timestamp_ms: Some(1_000 + i64::from(i)),
                ..Record::default()
            })
            .collect();
        let encoded = EncodedRecords::from_records(&records);
        let mut direct = Vec::new();
        batch::encode(&mut direct, 7, &records, 5, None, 1, 0);
        let mut staged = Vec::new();
        batch::encode_encoded(&mut staged, 7, &encoded.all(), None, 1, 0);
        assert_eq!(direct, staged);
        // Cut into batches of two records (131 to 137 bytes each), from record 1.
        let slices = encoded.batches(1, (batch::HEADER_SIZE + 280) as u64);
        let counts: Vec<u32> = slices.iter().map(|s| s.count).collect();
        assert_eq!(counts, vec![2, 2]);
        let mut untimed = EncodedRecords::default();
        untimed.push(&Record::new(b"x".to_vec()));
        untimed.stamp_untimed(42);
        assert_eq!(untimed.all().timestamps(), (42, 42));
        // A value written in place encodes as the same record.
        let value = EncodedRecords::one_value(9, 0, |out| out.extend_from_slice(b"commit"));
        let mut record = Record::new(b"commit".to_vec());
        record.timestamp_ms = Some(9);
        let mut a = Vec::new();
        batch::encode_encoded(&mut a, 0, &value.all(), None, 0, 0);
        let mut b = Vec::new();
        batch::encode(&mut b, 0, &[record], 0, None, 0, 0);
        assert_eq!(a, b);
    }

    #[test]
    fn a_known_crc_makes_the_same_batch_and_any_change_forgets_it() {
        let records: Vec<Record> = (0..40u8).map(|i| Record::new(vec![i; 300])).collect();
        let mut encoded = EncodedRecords::from_records(&records);
        let mut plain = Vec::new();
        batch::encode_encoded(&mut plain, 11, &encoded.all(), None, 1, 0);
        encoded.seal_crc();
        assert!(encoded.all().crc.is_some());
        let mut derived = Vec::new();
        batch::encode_encoded(&mut derived, 11, &encoded.all(), None, 1, 0);
        assert_eq!(plain, derived, "the batch, its CRC included, is the same");
        assert!(batch::verify(&derived).is_ok());
        // One slice of the whole body keeps it; cut into several, none does.
        assert!(encoded.batches(0, u64::MAX).iter().all(|s| s.crc.is_some()));
        assert!(encoded.batches(0, 4096).iter().all(|s| s.crc.is_none()));
        assert!(encoded.batches(1, u64::MAX).iter().all(|s| s.crc.is_none()));
        // A record stamped or pushed afterwards changes the body.
        let mut untimed = EncodedRecords::default();
        untimed.push(&Record::new(b"x".to_vec()));
        untimed.seal_crc();
        untimed.stamp_untimed(42);
        assert!(untimed.all().crc.is_none());
        encoded.push(&Record::new(b"y".to_vec()));
        assert!(encoded.all().crc.is_none());
        // Spans of known CRCs, anywhere in the bytes.
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let known = [
            (0, 100, crc32fast::hash(&bytes[..100])),
            (300, 5_000, crc32fast::hash(&bytes[300..5_000])),
            (5_000, 9_999, crc32fast::hash(&bytes[5_000..9_999])),
        ];
        assert_eq!(crc_with_known(&bytes, &known), crc32fast::hash(&bytes));
        assert_eq!(crc_with_known(&bytes, &[]), crc32fast::hash(&bytes));
    }
}
