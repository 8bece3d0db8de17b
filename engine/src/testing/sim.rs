// Over 600 lines: one model of a disk (contents, directories, power cut, faults) whose parts share one State; test support behind the `testing` feature.
//! A simulated disk for crash tests: an in-memory [`Storage`] that models a
//! power cut the way SQLite's crash VFS, RocksDB's `FaultInjectionTestFS` and
//! TigerBeetle's storage simulator do, plus injected I/O errors. Every choice
//! it makes comes from one seeded [`SimRng`], so a failure found with a seed is
//! reproduced by running the same workload with the same seed and plan.
//!
//! # State
//!
//! Every file has *volatile* contents (what reads see, the page cache) and
//! *durable* contents (what the platter holds as of its last successful
//! `sync_data`), plus the set of 512-byte sectors written since then. Every
//! directory has volatile entries and durable entries (as of its last
//! `sync_dir`), plus the ordered list of creations, renames and removals made
//! in it since then.
//!
//! # What a power cut may do ([`SimStorage::power_cut`])
//!
//! - Per file, chosen from the seed: drop every unsynced sector, keep every one,
//!   or tear them: each sector written since the last `sync_data` is
//!   independently the old sector, the new one, or garbage: random bytes in
//!   place of every byte that changed since the last `sync_data` (so an
//!   append into a partly synced sector never damages its synced bytes).
//! - The length of a file written or resized since its last `sync_data`
//!   becomes the synced length, the current length, or (torn) any length in
//!   between; bytes past the old length that were never synced read as zeros
//!   or garbage.
//! - Per directory, a prefix of the entry operations made since its last
//!   `sync_dir` survives, from none to all of them. So a file created but not
//!   covered by a directory fsync may vanish (with everything written to it,
//!   synced or not); a removed file may come back with its synced contents; a
//!   rename may revert. A rename within one directory is one operation, so it
//!   is atomic: afterwards exactly one of the old and the new state is seen. A
//!   rename between two directories is a removal in one and a creation in the
//!   other, each surviving according to its own directory.
//! - After a failed `sync_data`, each sector it should have written either
//!   reached the disk or is lost *and marked clean*: like Linux after an
//!   fsync error, a later successful `sync_data` does not write it again, while
//!   reads still return the new bytes until the power cut (ATC'20, "Can
//!   Applications Recover from fsync Failures?").
//! - Every open file handle and lock guard of the old storage fails from then
//!   on; locks are released.
//!
//! # What a power cut never does
//!
//! - Lose or change a sector that was synced by a successful `sync_data` and
//!   not written, truncated or lost to a failed `sync_data` since: as long as
//!   the file's name is durable, its synced bytes are there.
//! - Lose or revert a directory entry covered by a successful `sync_dir` of
//!   its directory.
//! - Tear at a granularity finer than a 512-byte sector; reorder operations
//!   inside one directory; invent files or names never created.
//! - Make a file longer than both its synced and its current length.
//!
//! Directories created since the last `sync_dir` of their parent can vanish
//! like files; [`SimStorage::create_dir_all_durable`] sets up a data directory
//! that already exists durably, as on a real machine.
//!
//! # Injected faults ([`FaultPlan`])
//!
//! Counted from 0 for each storage: the crash point counts every method call of
//! [`Storage`] and [`StorageFile`] ([`SimStorage::calls`]); the call at the crash
//! point and every call after it fail with [`is_simulated_power_loss`] errors
//! and change nothing (so a test can stop the engine, then take the
//! [`power_cut`](SimStorage::power_cut) image). Write faults count
//! `write_all_at` calls, sync faults count `sync_data` or `sync_dir` calls.
//! After an injected EIO, ENOSPC, short write or failed fsync the storage keeps
//! working: poisoning itself is the engine's job.

use crate::io::{OpenMode, Storage, StorageFile};
use crate::sync::Mutex;
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Granularity of tearing: a write may land partially, but never inside a sector.
pub const SECTOR_BYTES: usize = 512;
const SECTOR_BYTES_U64: u64 = SECTOR_BYTES as u64;
/// Largest simulated file; a bound on positions so arithmetic cannot overflow.
pub const FILE_BYTES_MAX: u64 = 1 << 40;
const _: () = assert!(SECTOR_BYTES.is_power_of_two() && FILE_BYTES_MAX > SECTOR_BYTES_U64);

/// A tiny deterministic random number generator (SplitMix64). Public so that
/// simulation tests can derive their workloads from the same seed.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`; 0 when `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        self.next_u64() % bound
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(bytes) {
                *dst = src;
            }
        }
    }
}

/// Which storage calls fail, and how. Every index counts from 0 within one
/// boot of the simulated disk (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The power fails at this storage call: it and every later call fail.
    pub crash_at_call: Option<u64>,
    /// This `write_all_at` fails with EIO and writes nothing.
    pub eio_at_write: Option<u64>,
    /// This `write_all_at` fails with ENOSPC and writes nothing.
    pub enospc_at_write: Option<u64>,
    /// This `write_all_at` writes a seed-chosen strict prefix, then fails with ENOSPC.
    pub short_write_at: Option<u64>,
    /// This `sync_data` fails with EIO (and loses a seed-chosen part of the data).
    pub fail_sync_data_at: Option<u64>,
    /// This `sync_dir` fails with EIO and makes nothing durable.
    pub fail_sync_dir_at: Option<u64>,
}

impl FaultPlan {
    /// No faults: the disk only loses what a power cut may lose.
    pub fn none() -> Self {
        FaultPlan::default()
    }
    pub fn crash_at_call(mut self, call: u64) -> Self {
        self.crash_at_call = Some(call);
        self
    }
    pub fn eio_at_write(mut self, write: u64) -> Self {
        self.eio_at_write = Some(write);
        self
    }
    pub fn enospc_at_write(mut self, write: u64) -> Self {
        self.enospc_at_write = Some(write);
        self
    }
    pub fn short_write_at(mut self, write: u64) -> Self {
        self.short_write_at = Some(write);
        self
    }
    pub fn fail_sync_data_at(mut self, sync: u64) -> Self {
        self.fail_sync_data_at = Some(sync);
        self
    }
    pub fn fail_sync_dir_at(mut self, sync: u64) -> Self {
        self.fail_sync_dir_at = Some(sync);
        self
    }
}

/// The error payload of every call at or after the crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedPowerLoss;

impl fmt::Display for SimulatedPowerLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("simulated power loss")
    }
}

impl std::error::Error for SimulatedPowerLoss {}

/// Whether `error` is the simulated power loss (by type, not by message).
pub fn is_simulated_power_loss(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<SimulatedPowerLoss>().is_some())
}

fn power_loss() -> io::Error {
    io::Error::other(SimulatedPowerLoss)
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn broken_model(what: &str) -> io::Error {
    io::Error::other(format!("simulated disk model is inconsistent: {what}"))
}

type NodeId = u64;
const ROOT_DIR: NodeId = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(NodeId),
    Dir(NodeId),
}

type Sector = Box<[u8; SECTOR_BYTES]>;

fn zero_sector() -> Sector {
    Box::new([0u8; SECTOR_BYTES])
}

/// Sparse file contents: absent sectors read as zeros, bytes past `len` in
/// the last sector are always zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Content {
    len: u64,
    sectors: BTreeMap<u64, Sector>,
}

impl Content {
    fn read(&self, buf: &mut [u8], position: u64) -> usize {
        let available = self.len.saturating_sub(position);
        let count = usize::try_from(available).map_or(buf.len(), |a| a.min(buf.len()));
        let mut done = 0usize;
        while done < count {
            let at = position + done as u64;
            let offset = (at % SECTOR_BYTES_U64) as usize;
            let take = (SECTOR_BYTES - offset).min(count - done);
            if let Some(dst) = buf.get_mut(done..done + take) {
                match self.sectors.get(&(at / SECTOR_BYTES_U64)) {
                    Some(sector) => dst.copy_from_slice(sector.get(offset..offset + take).unwrap_or_default()),
                    None => dst.fill(0),
                }
            }
            done += take;
        }
        count
    }

    /// Callers check `position + buf.len() <= FILE_BYTES_MAX`.
    fn write(&mut self, buf: &[u8], position: u64) {
        let mut done = 0usize;
        while done < buf.len() {
            let at = position + done as u64;
            let offset = (at % SECTOR_BYTES_U64) as usize;
            let take = (SECTOR_BYTES - offset).min(buf.len() - done);
            let sector = self.sectors.entry(at / SECTOR_BYTES_U64).or_insert_with(zero_sector);
            if let (Some(dst), Some(src)) = (sector.get_mut(offset..offset + take), buf.get(done..done + take)) {
                dst.copy_from_slice(src);
            }
            done += take;
        }
        if !buf.is_empty() {
            self.len = self.len.max(position + buf.len() as u64);
        }
    }

    fn set_len(&mut self, len: u64) {
        self.len = len;
        self.trim();
    }

    /// Restore the invariant: nothing stored at or past `len`.
    fn trim(&mut self) {
        drop(self.sectors.split_off(&self.len.div_ceil(SECTOR_BYTES_U64)));
        let offset = (self.len % SECTOR_BYTES_U64) as usize;
        if offset != 0 {
            if let Some(tail) = self
                .sectors
                .get_mut(&(self.len / SECTOR_BYTES_U64))
                .and_then(|sector| sector.get_mut(offset..))
            {
                tail.fill(0);
            }
        }
    }
}

/// What a power cut does to one file's unsynced sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SectorFate {
    Old,
    New,
    Garbage,
}

#[derive(Debug, Clone, Default)]
struct Inode {
    volatile: Content,
    durable: Content,
    /// Sectors whose volatile bytes may differ from the durable ones.
    dirty: BTreeSet<u64>,
}

impl Inode {
    fn synced(content: Content) -> Self {
        Inode {
            volatile: content.clone(),
            durable: content,
            dirty: BTreeSet::new(),
        }
    }

    fn write(&mut self, buf: &[u8], position: u64) {
        if buf.is_empty() {
            return;
        }
        let first = position / SECTOR_BYTES_U64;
        let last = (position + buf.len() as u64 - 1) / SECTOR_BYTES_U64;
        self.dirty.extend(first..=last);
        self.volatile.write(buf, position);
    }

    fn set_len(&mut self, len: u64) {
        if len < self.volatile.len {
            // Every sector from `len` on that holds bytes (old or new) changes.
            let partial_bytes = len % SECTOR_BYTES_U64;
            if partial_bytes != 0 {
                self.dirty.insert(len / SECTOR_BYTES_U64);
            }
            let whole = len.div_ceil(SECTOR_BYTES_U64);
            self.dirty
                .extend(self.volatile.sectors.range(whole..).map(|(index, _)| *index));
            self.dirty
                .extend(self.durable.sectors.range(whole..).map(|(index, _)| *index));
        }
        self.volatile.set_len(len);
    }

    fn persist_sector(&mut self, index: u64) {
        match self.volatile.sectors.get(&index) {
            Some(sector) => {
                self.durable.sectors.insert(index, sector.clone());
            }
            None => {
                self.durable.sectors.remove(&index);
            }
        }
    }

    fn sync(&mut self) {
        for index in std::mem::take(&mut self.dirty) {
            self.persist_sector(index);
        }
        self.durable.len = self.volatile.len;
        self.durable.trim();
    }

    /// A failed fsync: each dirty sector either made it or is lost, and is
    /// marked clean either way (the length stays as last synced).
    fn fail_sync(&mut self, rng: &mut SimRng) {
        for index in std::mem::take(&mut self.dirty) {
            if rng.chance(1, 2) {
                self.persist_sector(index);
            }
        }
        self.durable.trim();
    }

    fn after_power_cut(&self, rng: &mut SimRng) -> Content {
        let durable_len = self.durable.len;
        let volatile_len = self.volatile.len;
        if self.dirty.is_empty() && durable_len == volatile_len {
            return self.durable.clone();
        }
        let (image_len, fate_all) = match rng.below(3) {
            0 => (durable_len, Some(SectorFate::Old)),
            1 => (volatile_len, Some(SectorFate::New)),
            _ => {
                let low = durable_len.min(volatile_len);
                let high = durable_len.max(volatile_len);
                let len = match rng.below(3) {
                    0 => durable_len,
                    1 => volatile_len,
                    _ => low + rng.below(high - low + 1),
                };
                (len, None)
            }
        };
        let mut image = self.durable.clone();
        image.len = image_len;
        for &index in &self.dirty {
            if index.saturating_mul(SECTOR_BYTES_U64) >= image_len {
                break;
            }
            let fate = fate_all.unwrap_or_else(|| match rng.below(3) {
                0 => SectorFate::Old,
                1 => SectorFate::New,
                _ => SectorFate::Garbage,
            });
            match fate {
                SectorFate::Old => {}
                SectorFate::New => match self.volatile.sectors.get(&index) {
                    Some(sector) => {
                        image.sectors.insert(index, sector.clone());
                    }
                    None => {
                        image.sectors.remove(&index);
                    }
                },
                SectorFate::Garbage => {
                    // Only the bytes that changed since the last sync are
                    // scrambled: bytes of the sector that were synced and not
                    // written since keep their durable value.
                    let old = self.durable.sectors.get(&index);
                    let new = self.volatile.sectors.get(&index);
                    let mut noise = zero_sector();
                    rng.fill_bytes(noise.as_mut_slice());
                    let mut sector = old.cloned().unwrap_or_else(zero_sector);
                    let sector_start = index * SECTOR_BYTES_U64;
                    for (at, byte) in sector.iter_mut().enumerate() {
                        let position = sector_start + at as u64;
                        let old_byte = old.and_then(|s| s.get(at)).copied().unwrap_or(0);
                        let new_byte = new.and_then(|s| s.get(at)).copied().unwrap_or(0);
                        if position >= durable_len || old_byte != new_byte {
                            *byte = noise.get(at).copied().unwrap_or(0);
                        }
                    }
                    image.sectors.insert(index, sector);
                }
            }
        }
        image.trim();
        image
    }
}

/// One entry operation in a directory, kept until the directory is synced.
#[derive(Debug, Clone)]
enum DirOp {
    Link { name: String, node: Node },
    Unlink { name: String },
    Rename { from: String, to: String },
}

impl DirOp {
    fn apply(&self, entries: &mut BTreeMap<String, Node>) {
        match self {
            DirOp::Link { name, node } => {
                entries.insert(name.clone(), *node);
            }
            DirOp::Unlink { name } => {
                entries.remove(name);
            }
            DirOp::Rename { from, to } => {
                if let Some(node) = entries.remove(from) {
                    entries.insert(to.clone(), node);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Dir {
    entries: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
    pending: Vec<DirOp>,
}

impl Dir {
    fn synced(entries: BTreeMap<String, Node>) -> Self {
        Dir {
            durable: entries.clone(),
            entries,
            pending: Vec::new(),
        }
    }

    fn record(&mut self, op: DirOp) {
        op.apply(&mut self.entries);
        self.pending.push(op);
    }

    fn sync(&mut self) {
        self.durable = self.entries.clone();
        self.pending.clear();
    }

    fn after_power_cut(&self, rng: &mut SimRng) -> BTreeMap<String, Node> {
        let mut entries = self.durable.clone();
        let pending = self.pending.len() as u64;
        if pending == 0 {
            return entries;
        }
        let survivors = match rng.below(3) {
            0 => 0,
            1 => pending,
            _ => rng.below(pending + 1),
        };
        for op in self
            .pending
            .iter()
            .take(usize::try_from(survivors).unwrap_or(usize::MAX))
        {
            op.apply(&mut entries);
        }
        entries
    }
}

/// Names of the components of `path` (absolute or relative to the root).
fn components(path: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                names.pop();
            }
            Component::Normal(name) => {
                let name = name
                    .to_str()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "simulated disk: path is not UTF-8"))?;
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}

fn split_last(names: &[String]) -> io::Result<(&[String], &str)> {
    match names.split_last() {
        Some((last, parent)) => Ok((parent, last.as_str())),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "simulated disk: the root has no name",
        )),
    }
}

struct State {
    seed: u64,
    boot: u64,
    plan: FaultPlan,
    rng: SimRng,
    /// Source of [`Storage::random_u64`], apart from `rng` so that drawing
    /// producer ids does not change the faults a seed chooses.
    random: SimRng,
    calls: u64,
    writes: u64,
    syncs_data: u64,
    syncs_dir: u64,
    crashed: bool,
    dirs: BTreeMap<NodeId, Dir>,
    inodes: BTreeMap<NodeId, Inode>,
    node_next: NodeId,
    locks: BTreeMap<Vec<String>, u64>,
    lock_token_next: u64,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimState")
            .field("seed", &self.seed)
            .field("boot", &self.boot)
            .field("plan", &self.plan)
            .field("calls", &self.calls)
            .field("crashed", &self.crashed)
            .field("dirs", &self.dirs.len())
            .field("files", &self.inodes.len())
            .finish_non_exhaustive()
    }
}

/// Mix the seed with the boot number so each boot draws different choices.
fn boot_seed(seed: u64, boot: u64) -> u64 {
    SimRng::new(seed ^ boot.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

impl State {
    fn boot(
        seed: u64,
        boot: u64,
        plan: FaultPlan,
        dirs: BTreeMap<NodeId, Dir>,
        inodes: BTreeMap<NodeId, Inode>,
    ) -> Self {
        let node_next = dirs
            .keys()
            .chain(inodes.keys())
            .max()
            .map_or(ROOT_DIR + 1, |max| max + 1);
        State {
            seed,
            boot,
            plan,
            rng: SimRng::new(boot_seed(seed, boot)),
            random: SimRng::new(boot_seed(seed, boot) ^ 0x1D5E_ED00_0000_0002),
            calls: 0,
            writes: 0,
            syncs_data: 0,
            syncs_dir: 0,
            crashed: false,
            dirs,
            inodes,
            node_next,
            locks: BTreeMap::new(),
            lock_token_next: 0,
        }
    }

    /// Count one storage call; fail it if the power is (now) out.
    fn begin_call(&mut self) -> io::Result<()> {
        if self.crashed {
            return Err(power_loss());
        }
        let call = self.calls;
        self.calls += 1;
        if self.plan.crash_at_call == Some(call) {
            self.crashed = true;
            return Err(power_loss());
        }
        Ok(())
    }

    fn dir(&self, id: NodeId) -> io::Result<&Dir> {
        self.dirs.get(&id).ok_or_else(|| broken_model("dangling directory"))
    }

    fn dir_mut(&mut self, id: NodeId) -> io::Result<&mut Dir> {
        self.dirs.get_mut(&id).ok_or_else(|| broken_model("dangling directory"))
    }

    fn inode_mut(&mut self, id: NodeId) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&id).ok_or_else(|| broken_model("dangling file"))
    }

    fn lookup(&self, names: &[String]) -> io::Result<Node> {
        let mut node = Node::Dir(ROOT_DIR);
        for name in names {
            let Node::Dir(id) = node else {
                return Err(errno(libc::ENOTDIR));
            };
            node = *self
                .dir(id)?
                .entries
                .get(name)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        }
        Ok(node)
    }

    fn lookup_dir(&self, names: &[String]) -> io::Result<NodeId> {
        match self.lookup(names)? {
            Node::Dir(id) => Ok(id),
            Node::File(_) => Err(errno(libc::ENOTDIR)),
        }
    }

    fn new_node(&mut self) -> NodeId {
        let id = self.node_next;
        self.node_next += 1;
        id
    }

    fn create_dir_all(&mut self, names: &[String]) -> io::Result<NodeId> {
        let mut current = ROOT_DIR;
        for name in names {
            current = match self.dir(current)?.entries.get(name) {
                Some(Node::Dir(id)) => *id,
                Some(Node::File(_)) => return Err(errno(libc::ENOTDIR)),
                None => {
                    let id = self.new_node();
                    self.dirs.insert(id, Dir::default());
                    self.dir_mut(current)?.record(DirOp::Link {
                        name: name.clone(),
                        node: Node::Dir(id),
                    });
                    id
                }
            };
        }
        Ok(current)
    }

    fn open(&mut self, names: &[String], mode: OpenMode) -> io::Result<NodeId> {
        let (parent, name) = split_last(names)?;
        let parent = self.lookup_dir(parent)?;
        let existing = self.dir(parent)?.entries.get(name).copied();
        match (mode, existing) {
            (_, Some(Node::Dir(_))) => Err(errno(libc::EISDIR)),
            (OpenMode::CreateNew, Some(Node::File(_))) => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
            (OpenMode::Existing, None) => Err(io::Error::from(io::ErrorKind::NotFound)),
            (OpenMode::Existing, Some(Node::File(id))) => Ok(id),
            (OpenMode::Truncate, Some(Node::File(id))) => {
                self.inode_mut(id)?.set_len(0);
                Ok(id)
            }
            (OpenMode::CreateNew | OpenMode::Truncate, None) => {
                let id = self.new_node();
                self.inodes.insert(id, Inode::default());
                self.dir_mut(parent)?.record(DirOp::Link {
                    name: name.to_string(),
                    node: Node::File(id),
                });
                Ok(id)
            }
        }
    }

    fn rename(&mut self, from: &[String], to: &[String]) -> io::Result<()> {
        let (from_parent, from_name) = split_last(from)?;
        let (to_parent, to_name) = split_last(to)?;
        let from_dir = self.lookup_dir(from_parent)?;
        let to_dir = self.lookup_dir(to_parent)?;
        let node = *self
            .dir(from_dir)?
            .entries
            .get(from_name)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if from == to {
            return Ok(());
        }
        match (node, self.dir(to_dir)?.entries.get(to_name)) {
            (Node::Dir(_), _) if to.starts_with(from) => return Err(errno(libc::EINVAL)),
            (Node::File(_), Some(Node::Dir(_))) => return Err(errno(libc::EISDIR)),
            (Node::Dir(_), Some(Node::File(_))) => return Err(errno(libc::ENOTDIR)),
            (Node::Dir(_), Some(Node::Dir(target))) if !self.dir(*target)?.entries.is_empty() => {
                return Err(errno(libc::ENOTEMPTY))
            }
            _ => {}
        }
        if from_dir == to_dir {
            self.dir_mut(from_dir)?.record(DirOp::Rename {
                from: from_name.to_string(),
                to: to_name.to_string(),
            });
        } else {
            self.dir_mut(from_dir)?.record(DirOp::Unlink {
                name: from_name.to_string(),
            });
            self.dir_mut(to_dir)?.record(DirOp::Link {
                name: to_name.to_string(),
                node,
            });
        }
        Ok(())
    }

    fn unlink(&mut self, names: &[String], want_dir: bool) -> io::Result<()> {
        let (parent, name) = split_last(names)?;
        let parent = self.lookup_dir(parent)?;
        match (self.dir(parent)?.entries.get(name), want_dir) {
            (None, _) => return Err(io::Error::from(io::ErrorKind::NotFound)),
            (Some(Node::Dir(_)), false) => return Err(errno(libc::EISDIR)),
            (Some(Node::File(_)), true) => return Err(errno(libc::ENOTDIR)),
            _ => {}
        }
        self.dir_mut(parent)?.record(DirOp::Unlink { name: name.to_string() });
        Ok(())
    }

    /// The disk after a power cut: see the module documentation.
    fn after_power_cut(&self) -> (BTreeMap<NodeId, Dir>, BTreeMap<NodeId, Inode>) {
        let mut rng = SimRng::new(boot_seed(self.seed, self.boot) ^ 0x5EC7_0B5E_ED00_0001);
        let mut images: BTreeMap<NodeId, BTreeMap<String, Node>> = self
            .dirs
            .iter()
            .map(|(id, dir)| (*id, dir.after_power_cut(&mut rng)))
            .collect();
        let mut dirs = BTreeMap::new();
        let mut files = BTreeSet::new();
        let mut stack = vec![ROOT_DIR];
        // Each directory is visited at most once, so this loop is bounded by
        // the number of directories.
        while let Some(id) = stack.pop() {
            let Some(entries) = images.remove(&id) else {
                continue;
            };
            for node in entries.values() {
                match node {
                    Node::Dir(child) => stack.push(*child),
                    Node::File(file) => {
                        files.insert(*file);
                    }
                }
            }
            dirs.insert(id, Dir::synced(entries));
        }
        let inodes = files
            .into_iter()
            .filter_map(|id| {
                let inode = self.inodes.get(&id)?;
                Some((id, Inode::synced(inode.after_power_cut(&mut rng))))
            })
            .collect();
        (dirs, inodes)
    }
}

/// The simulated disk. Clones share one disk; see the module documentation.
#[derive(Debug, Clone)]
pub struct SimStorage {
    shared: Arc<Mutex<State>>,
}

const _: fn() = || {
    fn assert_traits<T: Send + Sync + fmt::Debug + Clone + 'static>() {}
    assert_traits::<SimStorage>();
};

impl SimStorage {
    /// An empty disk (only the root directory, durable) with `plan`'s faults.
    pub fn new(seed: u64, plan: FaultPlan) -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(ROOT_DIR, Dir::default());
        SimStorage::from_state(State::boot(seed, 0, plan, dirs, BTreeMap::new()))
    }

    fn from_state(state: State) -> Self {
        SimStorage {
            shared: Arc::new(Mutex::new(state)),
        }
    }

    /// The disk after a power cut now (or at the crash point, if it passed):
    /// a new storage holding what survived, with no faults planned. This one,
    /// and every handle and lock guard it gave out, fails from now on.
    pub fn power_cut(&self) -> SimStorage {
        self.power_cut_with_plan(FaultPlan::none())
    }

    /// [`power_cut`](Self::power_cut), then boot with `plan` (to crash again,
    /// for example during recovery).
    pub fn power_cut_with_plan(&self, plan: FaultPlan) -> SimStorage {
        let mut state = self.shared.lock();
        state.crashed = true;
        let (dirs, inodes) = state.after_power_cut();
        SimStorage::from_state(State::boot(state.seed, state.boot + 1, plan, dirs, inodes))
    }

    /// A process crash (kill -9) without power loss: the page cache survives,
    /// so every write is kept, still unsynced; handles and locks of the old
    /// process fail or are released. The machine keeps running, so the fault
    /// plan and the call counters carry on (a crash point after the restart
    /// still fires).
    pub fn restart(&self) -> SimStorage {
        let mut state = self.shared.lock();
        let mut next = State::boot(
            state.seed,
            state.boot + 1,
            state.plan.clone(),
            state.dirs.clone(),
            state.inodes.clone(),
        );
        next.calls = state.calls;
        next.writes = state.writes;
        next.syncs_data = state.syncs_data;
        next.syncs_dir = state.syncs_dir;
        next.crashed = state.crashed;
        state.crashed = true;
        SimStorage::from_state(next)
    }

    /// Setup helper, not a storage call: `mkdir -p path` and make every level
    /// durable, like a data directory that existed before the test.
    pub fn create_dir_all_durable(&self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        if state.crashed {
            return Err(power_loss());
        }
        state.create_dir_all(&names)?;
        for depth in 0..=names.len() {
            let id = state.lookup_dir(names.get(..depth).unwrap_or_default())?;
            state.dir_mut(id)?.sync();
        }
        Ok(())
    }

    pub fn seed(&self) -> u64 {
        self.shared.lock().seed
    }

    /// Storage calls made so far in this boot (the crash point ranges over these).
    pub fn calls(&self) -> u64 {
        self.shared.lock().calls
    }

    /// `write_all_at` calls made so far in this boot.
    pub fn writes(&self) -> u64 {
        self.shared.lock().writes
    }

    /// `sync_data` calls made so far in this boot.
    pub fn syncs_data(&self) -> u64 {
        self.shared.lock().syncs_data
    }

    /// `sync_dir` calls made so far in this boot.
    pub fn syncs_dir(&self) -> u64 {
        self.shared.lock().syncs_dir
    }

    /// Whether the power is out (crash point reached or power cut taken).
    pub fn is_crashed(&self) -> bool {
        self.shared.lock().crashed
    }

    /// Every file's current (volatile) contents by path, for test diagnostics.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let state = self.shared.lock();
        let mut files = BTreeMap::new();
        let mut stack = vec![(PathBuf::from("/"), ROOT_DIR)];
        let mut visited = BTreeSet::new();
        while let Some((path, id)) = stack.pop() {
            if !visited.insert(id) {
                continue;
            }
            let Some(dir) = state.dirs.get(&id) else {
                continue;
            };
            for (name, node) in &dir.entries {
                match node {
                    Node::Dir(child) => stack.push((path.join(name), *child)),
                    Node::File(file) => {
                        if let Some(inode) = state.inodes.get(file) {
                            let mut bytes = vec![0u8; usize::try_from(inode.volatile.len).unwrap_or(0)];
                            inode.volatile.read(&mut bytes, 0);
                            files.insert(path.join(name), bytes);
                        }
                    }
                }
            }
        }
        files
    }
}

#[derive(Debug)]
struct SimFile {
    shared: Arc<Mutex<State>>,
    inode: NodeId,
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        let mut state = self.shared.lock();
        state.begin_call()?;
        Ok(state.inode_mut(self.inode)?.volatile.read(buf, position))
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        state.begin_call()?;
        let write = state.writes;
        state.writes += 1;
        if state.plan.eio_at_write == Some(write) {
            return Err(errno(libc::EIO));
        }
        if state.plan.enospc_at_write == Some(write) {
            return Err(errno(libc::ENOSPC));
        }
        match position.checked_add(buf.len() as u64) {
            Some(end) if end <= FILE_BYTES_MAX => {}
            _ => return Err(errno(libc::EFBIG)),
        }
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| broken_model("dangling file"))?;
        if state.plan.short_write_at == Some(write) {
            let written = usize::try_from(state.rng.below(buf.len() as u64)).unwrap_or(0);
            inode.write(buf.get(..written).unwrap_or_default(), position);
            return Err(errno(libc::ENOSPC));
        }
        inode.write(buf, position);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        state.begin_call()?;
        let sync = state.syncs_data;
        state.syncs_data += 1;
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| broken_model("dangling file"))?;
        if state.plan.fail_sync_data_at == Some(sync) {
            inode.fail_sync(&mut state.rng);
            return Err(errno(libc::EIO));
        }
        inode.sync();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut state = self.shared.lock();
        state.begin_call()?;
        Ok(state.inode_mut(self.inode)?.volatile.len)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.shared.lock();
        state.begin_call()?;
        if len > FILE_BYTES_MAX {
            return Err(errno(libc::EFBIG));
        }
        state.inode_mut(self.inode)?.set_len(len);
        Ok(())
    }
}

/// Holds a simulated directory lock until dropped (or until the power cut).
#[derive(Debug)]
struct SimLockGuard {
    shared: Arc<Mutex<State>>,
    key: Vec<String>,
    token: u64,
}

impl Drop for SimLockGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if state.locks.get(&self.key) == Some(&self.token) {
            state.locks.remove(&self.key);
        }
    }
}

impl Storage for SimStorage {
    /// From the seed (and the boot), not a storage call: no fault applies.
    fn random_u64(&self) -> io::Result<u64> {
        Ok(self.shared.lock().random.next_u64())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        let inode = state.open(&names, mode)?;
        Ok(Arc::new(SimFile {
            shared: Arc::clone(&self.shared),
            inode,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        state.unlink(&names, false)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let from = components(from)?;
        let to = components(to)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        state.rename(&from, &to)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        state.create_dir_all(&names).map(drop)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        state.unlink(&names, true)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        let sync = state.syncs_dir;
        state.syncs_dir += 1;
        let id = state.lookup_dir(&names)?;
        if state.plan.fail_sync_dir_at == Some(sync) {
            return Err(errno(libc::EIO));
        }
        state.dir_mut(id)?.sync();
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        let id = state.lookup_dir(&names)?;
        Ok(state.dir(id)?.entries.keys().cloned().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let Ok(names) = components(path) else {
            return false;
        };
        let mut state = self.shared.lock();
        state.begin_call().is_ok() && state.lookup(&names).is_ok()
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        state.lookup(&names)?;
        Ok(names.iter().fold(PathBuf::from("/"), |path, name| path.join(name)))
    }

    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        let names = components(path)?;
        let mut state = self.shared.lock();
        state.begin_call()?;
        state.lookup_dir(&names)?;
        if state.locks.contains_key(&names) {
            return Ok(Err(Some(std::process::id())));
        }
        let token = state.lock_token_next;
        state.lock_token_next += 1;
        state.locks.insert(names.clone(), token);
        Ok(Ok(Box::new(SimLockGuard {
            shared: Arc::clone(&self.shared),
            key: names,
            token,
        })))
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
