//! [`Scanner`]: a sequential zero-copy reader of one partition that keeps its
//! place between calls.

use crate::catalog::OpenCatalog;
use crate::error::Result;
use crate::log::batch::RecordView;
use crate::log::partition::{Isolation, ReadOptions, ScanMarks, ScanResume};
use std::sync::Arc;

/// A sequential reader of one partition: [`Store::scan`](crate::Store::scan) for a consumer that
/// reads on from where it stopped, call after call.
///
/// Each [`Scanner::scan`] visits the same records, under the same budgets,
/// isolation, offset checks and errors, as `Store::scan` from
/// [`Scanner::offset`] would, and moves the offset past them. The difference
/// is what it remembers: a call that stops inside a batch of a sealed
/// (memory-mapped) segment keeps the batch's position and the byte position
/// of the next record, so the next call continues there instead of finding
/// the batch through the index, checking its CRC again and parsing the
/// records before the offset again. Every byte a visitor sees is still
/// covered by a CRC this scanner verified: sealed segments are never written
/// again, and the mapping of a segment stays the same while it lives.
/// Everything else (the active segment, a segment deleted by retention or
/// truncation under the scanner, a [`Scanner::seek`]) falls back to the
/// full path.
///
/// A scanner holds a clone of the store (which stays open while a scanner
/// lives, like a [`crate::Consumer`]) and looks the partition up on every
/// call, so a deleted topic gives the same error as `Store::scan`.
///
/// ```
/// # use millrace::{Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
/// # let dir = tempfile::tempdir()?;
/// # let store = Store::open(dir.path(), StoreOptions::default())?;
/// # store.create_topic("t", TopicConfig::default())?;
/// # store.append("t", 0, &[Record::new(b"a".to_vec()), Record::new(b"b".to_vec())])?;
/// let mut scanner = store.scanner("t", 0, 0, Isolation::ReadCommitted)?;
/// let (_, end) = store.offsets("t", 0)?;
/// let mut total = 0;
/// while scanner.offset() < end {
///     scanner.scan(ReadOptions::default(), |record| total += record.value.len())?;
/// }
/// assert_eq!(total, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Scanner {
    catalog: Arc<OpenCatalog>,
    topic: String,
    partition: u32,
    isolation: Isolation,
    offset: u64,
    resume: Option<ScanResume>,
}

impl Scanner {
    /// A scanner of `topic`/`partition` over `catalog` starting at `offset`
    /// ([`Store::scanner`](crate::Store::scanner)). Fails if the partition
    /// does not exist; the offset is checked by each scan.
    pub(crate) fn new(
        catalog: Arc<OpenCatalog>,
        topic: &str,
        partition: u32,
        offset: u64,
        isolation: Isolation,
    ) -> Result<Scanner> {
        catalog.partition(topic, partition)?;
        Ok(Scanner {
            catalog,
            topic: topic.to_string(),
            partition,
            isolation,
            offset,
            resume: None,
        })
    }
}

impl Scanner {
    /// The offset the next [`Scanner::scan`] starts at.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Continue from `offset` instead (forgets the remembered position).
    pub fn seek(&mut self, offset: u64) {
        self.offset = offset;
        self.resume = None;
    }

    /// Visit records from [`Scanner::offset`] within `options`, as
    /// [`Store::scan`](crate::Store::scan) does, and move the offset to the returned next
    /// offset. A scan that reaches damage after visiting records returns
    /// them (the offset moves to the damage); the next scan, which starts
    /// there, returns the error. On an error nothing was visited and the
    /// offset stays where it was.
    pub fn scan(&mut self, options: ReadOptions, visit: impl FnMut(RecordView<'_>)) -> Result<u64> {
        self.scan_with_marks(options, visit).map(|marks| marks.next_offset)
    }

    /// [`Scanner::scan`], also returning the partition's marks taken after
    /// the visit, as [`Store::scan_with_marks`](crate::Store::scan_with_marks)
    /// does (a server answers a fetch with them).
    pub fn scan_with_marks(&mut self, options: ReadOptions, visit: impl FnMut(RecordView<'_>)) -> Result<ScanMarks> {
        let result = self
            .catalog
            .partition(&self.topic, self.partition)
            .and_then(|partition| {
                let next_offset =
                    partition.scan_resuming(self.offset, options, self.isolation, &mut self.resume, visit)?;
                Ok(ScanMarks {
                    next_offset,
                    high_watermark: partition.high_watermark(),
                    last_stable_offset: partition.last_stable_offset(),
                    log_start_offset: partition.start_offset(),
                })
            });
        match result {
            Ok(marks) => {
                self.offset = marks.next_offset;
                Ok(marks)
            }
            Err(e) => {
                self.resume = None;
                Err(e)
            }
        }
    }

    /// Whether this scanner reads `topic`/`partition` under `isolation`.
    pub fn reads(&self, topic: &str, partition: u32, isolation: Isolation) -> bool {
        self.partition == partition && self.isolation == isolation && self.topic == topic
    }

    /// Whether the next scan continues inside a batch it verified before
    /// (without finding it through the index or checking its CRC again).
    pub fn resumes_inside_batch(&self) -> bool {
        self.resume.is_some()
    }
}
