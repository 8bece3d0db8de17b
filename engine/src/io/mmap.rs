//! The one module with `unsafe`: read-only memory maps of sealed segments
//! (and giving their pages back, `ReadOnlyMap::release_pages`), and the
//! prefetch hint the record walk gives over a map's bytes ([`prefetch`]).
//!
//! SAFETY argument, for every map made here: `memmap2::Mmap::map` is unsafe
//! because another process or thread could truncate or modify the file while
//! it is mapped, turning reads into SIGBUS or data races. We map only *sealed*
//! segments: files the engine never writes again (a sealed segment is only
//! ever deleted whole, by retention, which unlinks it; an unlinked file stays
//! mapped and readable until the map is dropped). No other process may write
//! them, because the data directory is held under an exclusive lock for as long
//! as the store is open. The remaining hazard is an operator or foreign program
//! editing segment files behind the lock, which we document as unsupported
//! (`design/durability.md`). A read-only view of a directory another process
//! holds (`Store::open_read_only` of a live store) holds no lock, so it maps
//! nothing (`ReadOnlyStorage`). Bytes read through a map are treated as untrusted
//! input exactly like bytes from `read_at`: every batch is CRC-checked.

#![expect(
    unsafe_code,
    reason = "memory maps; the SAFETY argument above covers every map made here"
)]

use std::fs::File;
use std::io;
use std::ops::Deref;

#[derive(Debug)]
/// A read-only memory map of a sealed file (see the module documentation).
pub struct ReadOnlyMap {
    map: memmap2::Mmap,
}

impl ReadOnlyMap {
    pub(crate) fn new(file: &File) -> io::Result<Self> {
        // SAFETY: see the module documentation: only sealed segments, never
        // written again, under the directory's exclusive lock, are mapped.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(ReadOnlyMap { map })
    }

    /// Take this map's pages out of the process's resident set. They stay in
    /// the page cache; the next access maps each back in (a minor fault) with
    /// the same bytes.
    pub(crate) fn release_pages(&self) -> io::Result<()> {
        #[cfg(unix)]
        // SAFETY: `MADV_DONTNEED` on a shared, read-only file mapping (what
        // `Mmap::map` makes) only unmaps the pages from this process: a later
        // access repopulates them from the file's contents, and this file's
        // contents never change (module documentation). A slice borrowed from
        // the map therefore reads the same bytes before, during and after;
        // nothing is zeroed or discarded, as it would be for a private or
        // anonymous mapping.
        unsafe {
            self.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        }
        #[cfg(not(unix))]
        Ok(())
    }
}

impl Deref for ReadOnlyMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// Ask the CPU to bring the cache lines of `bytes[from..to]` into its caches
/// (a hint: nothing is read, and nothing outside `bytes` is named).
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8], from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    for at in (from..to.min(bytes.len())).step_by(64) {
        if let Some(byte) = bytes.get(at) {
            // SAFETY: a prefetch reads nothing and cannot fault, and the
            // address is inside `bytes` anyway. SSE is part of the x86_64
            // baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(byte).cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, from, to);
}
