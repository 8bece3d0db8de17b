//! A read-only view of the real file system for offline tools that only read
//! (`check`, `consume`, `topic describe|list`, `offsets show`): the engine
//! opens and recovers the store through it exactly as it would through
//! [`FsStorage`](super::FsStorage), but nothing reaches the disk. Every write,
//! truncation, creation, rename and removal is kept in memory, on top of the
//! files as they are; fsyncs do nothing. So a torn tail is cut, an index
//! rebuilt, a producer snapshot written only in this process's view: the
//! recovered state is computed in memory and the damaged bytes are simply not
//! served, while the data directory stays byte for byte as it was.
//!
//! Files are opened read-only (`O_RDONLY`), so a bug here cannot write
//! through. The directory lock is taken shared and without writing the lock
//! file ([`lock_dir_shared`]): readers do not exclude each other, and no
//! writer can open (and recover) the directory under them.
//!
//! A store that a writer holds open (an embedding service, `millrace serve`)
//! is read *live*, without a lock, and only its durable bytes are served:
//! each file's length is sampled when it is first opened and the file is then
//! fdatasync'd (allowed on a read-only descriptor; it changes no byte), and
//! each directory recovery fsyncs is fsync'd for real, so nothing this view
//! shows can be lost by a power cut, whatever the writer's durability mode.
//! The writer keeps writing meanwhile: the view is the files as they were
//! when opened, and a race with it (a segment deleted by retention between
//! listing and opening, a producer snapshot newer than the log length
//! sampled) fails the open, which [`crate::Store::open_read_only`] retries.

use super::{mmap::ReadOnlyMap, OpenMode, Storage, StorageFile};
use crate::sync::Mutex;
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ReadOnlyStorage {
    overlay: Mutex<Overlay>,
}

impl ReadOnlyStorage {
    /// True when [`Storage::lock_dir`] found a writer holding the directory:
    /// the store is read live, durable bytes only (see the module documentation).
    pub fn is_live(&self) -> bool {
        self.overlay.lock().live
    }
}

#[derive(Debug, Default)]
struct Overlay {
    /// Every file opened or created through this storage, by path (a file's
    /// view must be the same for every handle, as on a real file system).
    files: BTreeMap<PathBuf, Arc<OverlayFile>>,
    /// Directories created in memory.
    dirs: BTreeSet<PathBuf>,
    /// Paths removed or renamed away in memory (a removed directory hides
    /// everything under it that was not created again).
    removed: BTreeSet<PathBuf>,
    /// A writer holds the directory: fdatasync each file opened from disk
    /// after sampling its length, fsync directories for real.
    live: bool,
}

impl Overlay {
    fn exists(&self, path: &Path) -> bool {
        if self.files.contains_key(path) || self.dirs.contains(path) {
            return true;
        }
        if path.ancestors().any(|a| self.removed.contains(a)) {
            return false;
        }
        path.exists()
    }

    fn unremove(&mut self, path: &Path) {
        self.removed.remove(path);
    }
}

/// How a read-only opener holds a data directory ([`lock_dir_shared`]).
#[derive(Debug)]
pub enum ReadLock {
    /// A shared `flock` on `LOCK`: other readers may hold it too, no writer
    /// can take it (and recover the directory) until this is dropped.
    Shared(File),
    /// No `LOCK` file: no writer ever opened the directory; read without a lock.
    NoLockFile,
    /// A writer holds the directory (its pid, if it wrote one): read live,
    /// without a lock, durable bytes only.
    Live {
        /// The pid the writer wrote into `LOCK`, if readable.
        writer_pid: Option<u32>,
    },
}

impl ReadLock {
    /// True when a writer holds the directory ([`ReadLock::Live`]).
    pub fn is_live(&self) -> bool {
        matches!(self, ReadLock::Live { .. })
    }
}

/// Take the data directory's lock (`LOCK`, the file [`FsStorage`](super::FsStorage)
/// locks exclusively) shared, without creating or writing it: it is opened
/// read-only and locked with `flock(LOCK_SH)`. A writer holding it is not an
/// error: the answer is then [`ReadLock::Live`], and the caller reads only
/// durable data without a lock. A directory with no `LOCK` file has never
/// been opened by a writer; it is read without a lock rather than modified.
pub fn lock_dir_shared(path: &Path) -> io::Result<ReadLock> {
    let lock_path = path.join("LOCK");
    let mut file = match open_read_only(&lock_path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReadLock::NoLockFile),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(ReadLock::Shared(file)),
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Ok(ReadLock::Live {
                writer_pid: text.trim().parse().ok(),
            })
        }
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Open a file of the store for reading, never through a symbolic link
/// (as [`FsStorage`](super::FsStorage) does).
fn open_read_only(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                super::symlink_refused(path)
            } else {
                e
            }
        })
}

/// A file as this process sees it: the bytes of the real file below
/// `base_len`, zeros above it, and the writes made in memory on top.
#[derive(Debug)]
struct OverlayFile {
    base: Option<File>,
    state: Mutex<FileState>,
    /// Opened from a directory a writer holds: never memory-mapped (the
    /// writer, or a repair after it, may truncate the file under the map,
    /// and a read of a map past the end of its file is a SIGBUS; `read_at`
    /// only comes back short).
    live: bool,
}

#[derive(Debug)]
struct FileState {
    len: u64,
    /// Bytes of `base` still visible (a truncation lowers it for good).
    base_len: u64,
    /// Writes in the order made; a later one wins where they overlap.
    writes: Vec<(u64, Vec<u8>)>,
}

impl OverlayFile {
    fn empty() -> Arc<OverlayFile> {
        Arc::new(OverlayFile {
            base: None,
            state: Mutex::new(FileState {
                len: 0,
                base_len: 0,
                writes: Vec::new(),
            }),
            live: false,
        })
    }

    /// The file on disk as it is now; `live`: only the bytes made durable
    /// (the length is sampled first, then the file is fdatasync'd, so every
    /// byte below it was written before the sync).
    fn open_base(path: &Path, live: bool) -> io::Result<Arc<OverlayFile>> {
        let file = open_read_only(path)?;
        let len = file.metadata()?.len();
        if live {
            file.sync_data()?;
        }
        Ok(Arc::new(OverlayFile {
            base: Some(file),
            state: Mutex::new(FileState {
                len,
                base_len: len,
                writes: Vec::new(),
            }),
            live,
        }))
    }
}

#[derive(Debug)]
struct Handle(Arc<OverlayFile>);

impl StorageFile for Handle {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        let state = self.0.state.lock();
        if position >= state.len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(state.len - position) as usize;
        let out = buf.get_mut(..n).unwrap_or_default();
        out.fill(0);
        let from_base = state.base_len.saturating_sub(position).min(n as u64) as usize;
        if let (Some(base), Some(part)) = (&self.0.base, out.get_mut(..from_base)) {
            base.read_exact_at(part, position)?;
        }
        let end = position + n as u64;
        for (at, bytes) in &state.writes {
            let write_end = at + bytes.len() as u64;
            let (from, to) = (position.max(*at), end.min(write_end));
            if from >= to {
                continue;
            }
            let source = bytes.get((from - at) as usize..(to - at) as usize);
            let target = out.get_mut((from - position) as usize..(to - position) as usize);
            if let (Some(source), Some(target)) = (source, target) {
                target.copy_from_slice(source);
            }
        }
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        let mut state = self.0.state.lock();
        let end = position
            .checked_add(buf.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past u64::MAX"))?;
        match state.writes.last_mut() {
            // Appends in order (the common case) extend one write.
            Some((at, bytes)) if *at + bytes.len() as u64 == position => bytes.extend_from_slice(buf),
            _ => state.writes.push((position, buf.to_vec())),
        }
        state.len = state.len.max(end);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.state.lock().len)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.0.state.lock();
        if len < state.len {
            state.base_len = state.base_len.min(len);
            state.writes.retain_mut(|(at, bytes)| {
                if *at >= len {
                    return false;
                }
                bytes.truncate((len - *at) as usize);
                true
            });
        }
        state.len = len;
        Ok(())
    }

    fn map_readonly(&self) -> Option<ReadOnlyMap> {
        if self.0.live {
            return None;
        }
        let state = self.0.state.lock();
        let base = self.0.base.as_ref()?;
        let base_file_len = base.metadata().ok()?.len();
        let untouched = state.writes.is_empty() && state.base_len == base_file_len && state.len == base_file_len;
        if untouched {
            ReadOnlyMap::new(base).ok()
        } else {
            None
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}: not found", path.display()))
}

impl Storage for ReadOnlyStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut overlay = self.overlay.lock();
        let exists = overlay.exists(path);
        let file = match mode {
            OpenMode::Existing => match overlay.files.get(path) {
                Some(file) => file.clone(),
                None if !exists => return Err(not_found(path)),
                None => OverlayFile::open_base(path, overlay.live)?,
            },
            OpenMode::CreateNew if exists => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: exists", path.display()),
                ))
            }
            OpenMode::CreateNew | OpenMode::Truncate => OverlayFile::empty(),
        };
        overlay.files.insert(path.to_path_buf(), file.clone());
        overlay.unremove(path);
        Ok(Arc::new(Handle(file)))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut overlay = self.overlay.lock();
        if !overlay.exists(path) {
            return Err(not_found(path));
        }
        overlay.files.remove(path);
        overlay.removed.insert(path.to_path_buf());
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut overlay = self.overlay.lock();
        if !overlay.exists(from) {
            return Err(not_found(from));
        }
        let file = match overlay.files.remove(from) {
            Some(file) => file,
            None if from.is_dir() || overlay.dirs.contains(from) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("{}: a read-only open renames no directory", from.display()),
                ))
            }
            None => OverlayFile::open_base(from, overlay.live)?,
        };
        overlay.removed.insert(from.to_path_buf());
        overlay.files.insert(to.to_path_buf(), file);
        overlay.unremove(to);
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut overlay = self.overlay.lock();
        for dir in path.ancestors() {
            if dir.as_os_str().is_empty() || overlay.exists(dir) {
                break;
            }
            overlay.dirs.insert(dir.to_path_buf());
            overlay.unremove(dir);
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut overlay = self.overlay.lock();
        if !overlay.exists(path) {
            return Err(not_found(path));
        }
        overlay.files.retain(|p, _| !p.starts_with(path));
        overlay.dirs.retain(|p| !p.starts_with(path));
        overlay.removed.insert(path.to_path_buf());
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let overlay = self.overlay.lock();
        // Live: the writer's directory entries this view lists may still be
        // in the page cache only; fsync (on a read-only descriptor) makes
        // them durable. A directory created in memory has nothing on disk.
        if overlay.live && !overlay.dirs.contains(path) && path.is_dir() {
            File::open(path)?.sync_all()?;
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let overlay = self.overlay.lock();
        if !overlay.exists(path) {
            return Err(not_found(path));
        }
        let mut names = BTreeSet::new();
        let hidden = path.ancestors().any(|a| overlay.removed.contains(a));
        if !hidden && path.is_dir() {
            for entry in fs::read_dir(path)? {
                let entry = entry?;
                if entry.file_type()?.is_symlink() {
                    return Err(super::symlink_refused(&entry.path()));
                }
                if let Some(name) = entry.file_name().to_str() {
                    if overlay.exists(&path.join(name)) {
                        names.insert(name.to_string());
                    }
                }
            }
        }
        let created = overlay.files.keys().chain(overlay.dirs.iter());
        for child in created.filter(|p| p.parent() == Some(path)) {
            if let Some(name) = child.file_name().and_then(|n| n.to_str()) {
                names.insert(name.to_string());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        self.overlay.lock().exists(path)
    }

    /// The real path (this only reads).
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        fs::canonicalize(path)
    }

    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        let lock = lock_dir_shared(path)?;
        self.overlay.lock().live = lock.is_live();
        Ok(Ok(Box::new(lock)))
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn is_live_view(&self) -> bool {
        self.is_live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stay_in_memory_and_reads_see_them() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        fs::write(&path, b"0123456789").unwrap();
        let storage = ReadOnlyStorage::default();
        let file = storage.open(&path, OpenMode::Existing).unwrap();
        file.set_len(4).unwrap();
        file.write_all_at(b"ab", 6).unwrap();
        let mut buf = [9u8; 10];
        assert_eq!(file.read_at(&mut buf, 0).unwrap(), 8);
        assert_eq!(&buf[..8], b"0123\0\0ab");
        // Another handle sees the same view; the disk is unchanged.
        let again = storage.open(&path, OpenMode::Existing).unwrap();
        assert_eq!(again.len().unwrap(), 8);
        assert_eq!(fs::read(&path).unwrap(), b"0123456789");
        storage.rename(&path, &tmp.path().join("g")).unwrap();
        assert!(!storage.exists(&path));
        assert_eq!(storage.list_dir(tmp.path()).unwrap(), vec!["g".to_string()]);
        storage.create_dir_all(&tmp.path().join("d/e")).unwrap();
        assert!(storage.exists(&tmp.path().join("d/e")));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        assert_eq!(fs::read(&path).unwrap(), b"0123456789");
    }
}
