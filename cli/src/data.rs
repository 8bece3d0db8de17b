//! Opening the data directory for offline commands.

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use millrace::{Store, StoreOptions};

/// Marker file every data directory has (see engine `store.rs`).
const FORMAT_FILE: &str = "MILLRACE";

fn options(background: bool) -> StoreOptions {
    StoreOptions {
        background,
        ..StoreOptions::default()
    }
}

/// Open an existing data directory; never creates one. Through the crash
/// test hook (`crash_hook.rs`: the plain file system unless a test arms it).
pub fn open_existing(global: &GlobalArgs) -> CliResult<Store> {
    require_existing(global)?;
    Ok(Store::open_with_storage(
        global.data(),
        options(false),
        crate::crash_hook::storage(),
    )?)
}

/// Open an existing data directory with the maintenance thread (retention,
/// flushes) for a long-running command (`mirror`).
pub fn open_existing_background(global: &GlobalArgs) -> CliResult<Store> {
    require_existing(global)?;
    Ok(Store::open(global.data(), options(true))?)
}

/// Open an existing data directory for a command that only reads: the
/// engine recovers it in memory and nothing on disk changes (no torn tail
/// cut, no index rewritten, no lock file written; `Store::open_read_only`).
pub fn open_read_only(global: &GlobalArgs) -> CliResult<Store> {
    require_existing(global)?;
    Ok(Store::open_read_only(global.data(), options(false))?)
}

/// Fail unless `--data` names an existing data directory.
pub fn require_existing(global: &GlobalArgs) -> CliResult<()> {
    if !global.data().join(FORMAT_FILE).is_file() {
        return Err(CliError::new(format!(
            "{} is not a millrace data directory (no {FORMAT_FILE} file)",
            global.data().display()
        ))
        .with_hint("pass the right directory with --data DIR (or MILLRACE_DATA), or create a topic first"));
    }
    Ok(())
}

/// Open the data directory, creating it if needed. `background` runs the
/// engine's maintenance thread (needed for `interval` durability flushes).
/// Through the crash test hook, as [`open_existing`].
pub fn open_or_create(global: &GlobalArgs, background: bool) -> CliResult<Store> {
    Ok(Store::open_with_storage(
        global.data(),
        options(background),
        crate::crash_hook::storage(),
    )?)
}
