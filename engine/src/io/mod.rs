//! The storage seam: every byte the engine reads or writes, every fsync, file
//! creation, rename and directory fsync goes through [`Storage`]. The real
//! implementation is [`FsStorage`]; tests swap in fault-injecting or
//! power-loss-simulating backends (see `design/durability.md`).

pub(crate) mod checked;
mod fs;
pub mod mmap;
pub(crate) mod poison;
mod read_only;
/// The simulated disk moved to [`crate::testing::sim`]; this path keeps
/// working for the workspace's tests. Transitional alias.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use crate::testing::sim;

pub use fs::FsStorage;
pub use read_only::{lock_dir_shared, ReadLock, ReadOnlyStorage};

use std::any::Any;
use std::fmt::{self, Debug};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Permissions of every file the engine creates, whatever the umask lets
/// through beyond them: records are readable by their owner only.
pub const FILE_MODE: u32 = 0o600;
/// Permissions of every directory the engine creates.
pub const DIR_MODE: u32 = 0o700;

/// A symbolic link met inside the data directory. Never followed: a link
/// would let whoever can write the directory make the store overwrite,
/// truncate or lock a file elsewhere. Carried inside an [`io::Error`] out of
/// a [`Storage`], and turned into [`crate::Error::SymlinkRefused`].
#[derive(Debug)]
pub struct SymlinkRefused {
    /// The link.
    pub path: PathBuf,
}

impl fmt::Display for SymlinkRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is a symbolic link", self.path.display())
    }
}

impl std::error::Error for SymlinkRefused {}

/// The `io::Error` a storage returns for a symlink at `path`.
pub fn symlink_refused(path: &Path) -> io::Error {
    io::Error::other(SymlinkRefused {
        path: path.to_path_buf(),
    })
}

/// The symlink `error` names, if it is a [`symlink_refused`] error.
pub fn symlink_in(error: &io::Error) -> Option<&Path> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<SymlinkRefused>())
        .map(|refused| refused.path.as_path())
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file for reading and writing; fail if missing.
    Existing,
    /// Create a new file; fail if it already exists.
    CreateNew,
    /// Open or create, truncating to zero length.
    Truncate,
}

/// A file opened through a [`Storage`]. Positional I/O only: the engine keeps
/// its own positions, so a file handle can be shared between threads.
#[expect(
    clippy::len_without_is_empty,
    reason = "a file's length is an I/O call that can fail; emptiness is never asked"
)]
pub trait StorageFile: Send + Sync + Debug {
    /// Read up to `buf.len()` bytes at `position`; returns bytes read (0 at EOF).
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize>;
    /// Write all of `buf` at `position`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()>;
    /// fdatasync: make written data (and the size) durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncate or extend.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// A read-only memory map of a sealed file, if this backend supports it.
    fn map_readonly(&self) -> Option<mmap::ReadOnlyMap> {
        None
    }
}

/// The file system as the engine sees it.
pub trait Storage: Send + Sync + Debug + 'static {
    /// Open `path` as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>>;
    /// Remove a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Rename atomically (replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Create a directory and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Remove a directory and everything under it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// fsync a directory so that entries created, renamed or removed in it are durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of a directory, sorted. A backend
    /// on a real file system refuses a directory that holds a symbolic link
    /// ([`symlink_refused`]): nothing inside a data directory is a link.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Ok when `path` is a directory that exists (its entries unread, so a
    /// directory outside the store, such as the data directory's parent,
    /// may hold links).
    fn check_dir(&self, path: &Path) -> io::Result<()> {
        self.list_dir(path).map(|_| ())
    }
    /// True if `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// `path` made absolute, without `.` and `..` (and, on a real file
    /// system, symbolic links resolved: `std::fs::canonicalize`). `NotFound`
    /// if it does not exist. By default the lexical form.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        if !self.exists(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let mut out = PathBuf::from("/");
        for component in path.components() {
            match component {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::Normal(name) => out.push(name),
                _ => {}
            }
        }
        Ok(out)
    }
    /// Take an exclusive lock on the data directory. The returned guard holds it
    /// until dropped. `Err(pid)` when someone else holds it (pid if known).
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>>;
    /// An unpredictable `u64` (producer ids are drawn from these, so that
    /// one client cannot guess another's). The operating system's CSPRNG by
    /// default; the simulated disk draws them from its seed, so that a seed
    /// replays the same run.
    fn random_u64(&self) -> io::Result<u64> {
        getrandom::u64().map_err(|e| match e.raw_os_error() {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::other(format!("operating system randomness: {e}")),
        })
    }
    /// True when nothing written through this storage reaches the disk
    /// ([`ReadOnlyStorage`]): recovery then says it cut nothing on disk.
    fn is_read_only(&self) -> bool {
        false
    }
    /// True when this is a read-only view of a directory another process
    /// holds open for writing ([`ReadOnlyStorage::is_live`]).
    fn is_live_view(&self) -> bool {
        false
    }
}

/// Write `contents` to `path` atomically: write a temporary file, fsync it,
/// rename over `path`, fsync the directory. The only way metadata is replaced.
pub fn write_atomic(storage: &dyn Storage, path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp: PathBuf = path.to_path_buf();
    tmp.set_extension("tmp");
    let file = storage.open(&tmp, OpenMode::Truncate)?;
    file.write_all_at(contents, 0)?;
    file.sync_data()?;
    drop(file);
    storage.rename(&tmp, path)?;
    storage.sync_dir(dir)
}

/// Read a whole (small, bounded) file.
pub fn read_all(storage: &dyn Storage, path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let file = storage.open(path, OpenMode::Existing)?;
    let len = file.len()?;
    if len > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is {len} bytes, more than the {max_bytes} allowed", path.display()),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    read_exact_at(file.as_ref(), &mut buf, 0)?;
    Ok(buf)
}

/// Fill `buf` from `position`, failing with `UnexpectedEof` if the file is shorter.
pub fn read_exact_at(file: &dyn StorageFile, mut buf: &mut [u8], mut position: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = file.read_at(buf, position)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        buf = buf.get_mut(n..).unwrap_or_default();
        position += n as u64;
    }
    Ok(())
}
