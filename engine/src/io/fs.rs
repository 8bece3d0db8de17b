//! The real file system.

use super::{mmap::ReadOnlyMap, OpenMode, Storage, StorageFile};
use super::{symlink_refused, DIR_MODE, FILE_MODE};
use std::any::Any;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// Options for a file inside the data directory: created 0600, and never
/// through a symbolic link (`O_NOFOLLOW`: a link as the last component
/// fails with `ELOOP`, reported as [`symlink_refused`]).
fn file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    options
}

/// `options.open(path)`, with a symlink reported as such.
fn open_no_follow(options: &OpenOptions, path: &Path) -> io::Result<File> {
    options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            symlink_refused(path)
        } else {
            e
        }
    })
}

#[derive(Debug, Default, Clone, Copy)]
/// The real file system (`std::fs`, `pread`/`pwrite`, `fdatasync`, `flock`).
pub struct FsStorage;

#[derive(Debug)]
struct FsFile {
    file: File,
}

impl StorageFile for FsFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, position) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        self.file.write_all_at(buf, position)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn map_readonly(&self) -> Option<ReadOnlyMap> {
        ReadOnlyMap::new(&self.file).ok()
    }
}

impl Storage for FsStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut options = file_options();
        options.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::CreateNew => {
                options.create_new(true);
            }
            OpenMode::Truncate => {
                options.create(true).truncate(true);
            }
        }
        Ok(Arc::new(FsFile {
            file: open_no_follow(&options, path)?,
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            // The entry's own type (`d_type`, or an lstat): a link is not followed.
            if entry.file_type()?.is_symlink() {
                return Err(symlink_refused(&entry.path()));
            }
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
    fn check_dir(&self, path: &Path) -> io::Result<()> {
        if fs::metadata(path)?.is_dir() {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::NotADirectory))
        }
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn canonicalize(&self, path: &Path) -> io::Result<std::path::PathBuf> {
        fs::canonicalize(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        let lock_path = path.join("LOCK");
        let mut file = open_no_follow(
            file_options().read(true).write(true).create(true).truncate(false),
            &lock_path,
        )?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.seek(io::SeekFrom::Start(0))?;
                writeln!(file, "{}", std::process::id())?;
                Ok(Ok(Box::new(file)))
            }
            Err(fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Ok(Err(text.trim().parse().ok()))
            }
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
