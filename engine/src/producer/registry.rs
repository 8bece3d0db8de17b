//! The producer registry file `producers.registry` in the data directory: the
//! durable half of [`ProducerEpochs`]. Replaced whole by `write_atomic` on
//! every `init_producer` (its size follows the number of live producers).
//! Layout in design/format.md ("Producer registry").

use crate::codec::{Decoder, Encoder};
use crate::config::StoreOptions;
use crate::error::{Error, Result};
use crate::io::checked::IoContext;
use crate::io::{read_all, write_atomic, Storage};
use crate::producer::state::{
    ProducerEpochs, Readmission, RegistryEntry, RegistryState, DEDUP_BATCHES_MAX, PRODUCERS_MAX,
    PRODUCER_NAME_BYTES_MAX,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const REGISTRY_FILE: &str = "producers.registry";
const REGISTRY_MAGIC: u32 = u32::from_le_bytes(*b"MRPR");
/// Version 3 draws ids at random (any `u64` is a valid id); version 2 added
/// the owner of each entry. Versions 1 and 2 (ids issued in sequence, every
/// id below the file's `next_id`; version 1 without owners) are still read.
const REGISTRY_VERSION: u16 = 3;
const REGISTRY_VERSION_SEQUENTIAL: u16 = 2;
const REGISTRY_VERSION_WITHOUT_OWNER: u16 = 1;
/// Longest owner (principal name) recorded.
pub(crate) const PRODUCER_OWNER_BYTES_MAX: usize = 255;
/// Largest registry file accepted: PRODUCERS_MAX entries of the largest size.
pub(crate) const REGISTRY_BYTES_MAX: u64 =
    32 + PRODUCERS_MAX as u64 * (8 + 2 + 8 + 2 + PRODUCER_NAME_BYTES_MAX as u64 + 2 + PRODUCER_OWNER_BYTES_MAX as u64);

/// Producer registry plus the options the partitions need.
#[derive(Debug)]
pub(crate) struct ProducerRegistry {
    pub epochs: ProducerEpochs,
    /// Batches remembered per producer and partition.
    pub window: u32,
    path: PathBuf,
    storage: Arc<dyn Storage>,
}

impl ProducerRegistry {
    /// Load (or start empty) the registry of the store at `store_path`.
    /// Rejects (never clamps) producer options out of range.
    pub fn open(storage: Arc<dyn Storage>, store_path: &Path, options: &StoreOptions) -> Result<ProducerRegistry> {
        if !(1..=DEDUP_BATCHES_MAX).contains(&options.producer_dedup_batches) {
            return Err(Error::invalid(
                "producer_dedup_batches",
                format!("{} (must be 1..={DEDUP_BATCHES_MAX})", options.producer_dedup_batches),
            ));
        }
        let expiry_ms = i64::try_from(options.producer_idle_expiry.as_millis())
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                Error::invalid(
                    "producer_idle_expiry",
                    format!("{:?} (must be positive)", options.producer_idle_expiry),
                )
            })?;
        let anonymous_expiry_ms = i64::try_from(options.anonymous_producer_idle_expiry.as_millis())
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                Error::invalid(
                    "anonymous_producer_idle_expiry",
                    format!("{:?} (must be positive)", options.anonymous_producer_idle_expiry),
                )
            })?;
        let path = store_path.join(REGISTRY_FILE);
        let state = if storage.exists(&path) {
            let bytes = read_all(storage.as_ref(), &path, REGISTRY_BYTES_MAX).at("read producer registry", &path)?;
            match decode_registry(&bytes) {
                Some(state) => state,
                // Producer ids and epochs are not worth the whole store: start
                // empty (every producer gets `UnknownProducer` and inits again);
                // `Store::open` notes every id the partitions and the transaction
                // log remember, so no new producer is given one of them. `millrace check`
                // reports the file, `millrace repair` moves it to a backup.
                None => {
                    tracing::warn!(
                        path = %path.display(),
                        "damaged producer registry ignored: producers must init again; new ids avoid those in the log"
                    );
                    RegistryState::default()
                }
            }
        } else {
            RegistryState::default()
        };
        Ok(ProducerRegistry {
            epochs: ProducerEpochs::new(state, expiry_ms).with_anonymous_expiry(anonymous_expiry_ms),
            window: options.producer_dedup_batches,
            path,
            storage,
        })
    }

    /// Register or re-register `name`; durable on return.
    pub fn init(&self, name: &str, now_ms: i64) -> Result<(u64, u16)> {
        check_name(name)?;
        self.epochs
            .init(name, now_ms, || self.draw_id(), |state| self.persist(state))
    }

    /// Register or re-register `name` on behalf of `owner` (see
    /// [`ProducerEpochs::init_as`]); `None` = `name` belongs to another owner.
    pub fn init_as(&self, name: &str, owner: &str, now_ms: i64) -> Result<Option<(u64, u16)>> {
        check_name(name)?;
        check_owner(owner)?;
        self.epochs.init_as(
            name,
            Some(owner),
            now_ms,
            || self.draw_id(),
            |state| self.persist(state),
        )
    }

    /// Register `name` or start its next epoch, epochs at most `epoch_max`
    /// (see [`ProducerEpochs::init_capped`]); `None` = `name` belongs to
    /// another owner.
    pub fn init_capped(
        &self,
        name: &str,
        owner: Option<&str>,
        epoch_max: u16,
        now_ms: i64,
    ) -> Result<Option<(u64, u16)>> {
        check_name(name)?;
        if let Some(owner) = owner {
            check_owner(owner)?;
        }
        self.epochs.init_capped(
            name,
            owner,
            epoch_max,
            now_ms,
            || self.draw_id(),
            |state| self.persist(state),
        )
    }

    /// Register a producer without a name ([`ProducerEpochs::register_anonymous`]); durable on return.
    /// `Ok(None)`: `owner` already has `live_max` live anonymous producers.
    pub fn register_anonymous(&self, owner: Option<&str>, live_max: usize, now_ms: i64) -> Result<Option<u64>> {
        if let Some(owner) = owner {
            check_owner(owner)?;
        }
        self.epochs
            .register_anonymous(owner, live_max, now_ms, || self.draw_id(), |state| self.persist(state))
    }

    /// Take back an expired anonymous id at `epoch` ([`ProducerEpochs::readmit_anonymous`]); durable on return.
    pub fn readmit_anonymous(
        &self,
        producer_id: u64,
        epoch: u16,
        owner: Option<&str>,
        live_max: usize,
        now_ms: i64,
    ) -> Result<Readmission> {
        if let Some(owner) = owner {
            check_owner(owner)?;
        }
        self.epochs
            .readmit_anonymous(producer_id, epoch, owner, live_max, now_ms, |state| self.persist(state))
    }

    /// A live anonymous id's own epoch bump ([`ProducerEpochs::bump_anonymous`]); durable on return.
    pub fn bump_anonymous(&self, producer_id: u64, epoch: u16, owner: Option<&str>, now_ms: i64) -> Result<bool> {
        self.epochs
            .bump_anonymous(producer_id, epoch, owner, now_ms, |state| self.persist(state))
    }

    /// A random candidate id, from the storage's source (the operating
    /// system's CSPRNG; the simulation's seed).
    fn draw_id(&self) -> Result<u64> {
        self.storage.random_u64().at("draw a producer id", &self.path)
    }

    /// May `owner` use `producer_id` (claiming it when it has no owner)?
    pub fn usable_by(&self, producer_id: u64, owner: &str) -> Result<bool> {
        check_owner(owner)?;
        self.epochs.usable_by(producer_id, owner, |state| self.persist(state))
    }

    fn persist(&self, state: &RegistryState) -> Result<()> {
        write_atomic(self.storage.as_ref(), &self.path, &encode_registry(state))
            .at("write producer registry", &self.path)
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > PRODUCER_NAME_BYTES_MAX {
        return Err(Error::invalid(
            "producer name",
            format!("{name:?}: use 1 to {PRODUCER_NAME_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

fn check_owner(owner: &str) -> Result<()> {
    if owner.is_empty() || owner.len() > PRODUCER_OWNER_BYTES_MAX {
        return Err(Error::invalid(
            "producer owner",
            format!("{owner:?}: use 1 to {PRODUCER_OWNER_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

fn encode_registry(state: &RegistryState) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u32(REGISTRY_MAGIC)
        .u16(REGISTRY_VERSION)
        .u64(state.sequential_ids_end);
    e.u32(state.entries.len() as u32);
    for (id, entry) in &state.entries {
        e.u64(*id)
            .u16(entry.epoch)
            .i64(entry.last_active_ms)
            .short_str(&entry.name)
            .short_str(&entry.owner);
    }
    e.seal_with_crc()
}

/// Decode a registry file (`None` if it is damaged); for `millrace check`.
pub(crate) fn decode_registry(bytes: &[u8]) -> Option<RegistryState> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u32()? != REGISTRY_MAGIC {
        return None;
    }
    let version = d.u16()?;
    let (with_owner, sequential) = match version {
        REGISTRY_VERSION => (true, false),
        REGISTRY_VERSION_SEQUENTIAL => (true, true),
        REGISTRY_VERSION_WITHOUT_OWNER => (false, true),
        _ => return None,
    };
    // Versions 1 and 2: the next id to issue, so every id below it may be
    // in use. Version 3: carried over from such a file (0 for a new store).
    let sequential_ids_end = d.u64()?;
    let count = d.u32()? as usize;
    if count > PRODUCERS_MAX {
        return None;
    }
    let mut state = RegistryState {
        sequential_ids_end,
        entries: Default::default(),
    };
    for _ in 0..count {
        let id = d.u64()?;
        let epoch = d.u16()?;
        let last_active_ms = d.i64()?;
        let name = d.short_str()?;
        let owner = if with_owner { d.short_str()? } else { String::new() };
        if (sequential && id >= sequential_ids_end) || owner.len() > PRODUCER_OWNER_BYTES_MAX {
            return None;
        }
        let entry = RegistryEntry {
            name,
            epoch,
            last_active_ms,
            owner,
        };
        if state.entries.insert(id, entry).is_some() {
            return None;
        }
    }
    d.is_empty().then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_roundtrip() {
        let mut state = RegistryState {
            sequential_ids_end: 3,
            ..RegistryState::default()
        };
        state.entries.insert(
            0x5eed_0000_0000_0001,
            RegistryEntry {
                name: "orders-writer".into(),
                epoch: 7,
                last_active_ms: 1234,
                owner: "ingest".into(),
            },
        );
        let bytes = encode_registry(&state);
        assert_eq!(decode_registry(&bytes), Some(state));
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert_eq!(decode_registry(&bad), None);
    }

    /// A version-2 file (ids issued in sequence) still opens: its next id
    /// becomes the end of the sequential range that drawn ids stay above; an
    /// id at or past it is damage there (not in version 3, where any `u64`
    /// is an id).
    #[test]
    fn version_2_registry_keeps_its_sequential_range() {
        let file = |id: u64| {
            let mut e = Encoder::new();
            e.u32(REGISTRY_MAGIC).u16(2).u64(3).u32(1);
            e.u64(id)
                .u16(7)
                .i64(1234)
                .short_str("orders-writer")
                .short_str("ingest");
            e.seal_with_crc()
        };
        let state = decode_registry(&file(2)).unwrap();
        assert_eq!(state.sequential_ids_end, 3);
        assert_eq!(state.entries[&2].owner, "ingest");
        assert_eq!(decode_registry(&file(3)), None);
        // Written back as version 3, it keeps the range.
        let bytes = encode_registry(&state);
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 3);
        assert_eq!(decode_registry(&bytes), Some(state));
    }

    /// A version-1 file (no owners) still opens: its producers have no owner.
    #[test]
    fn version_1_registry_is_read_without_owners() {
        let mut e = Encoder::new();
        e.u32(REGISTRY_MAGIC).u16(1).u64(3).u32(1);
        e.u64(2).u16(7).i64(1234).short_str("orders-writer");
        let state = decode_registry(&e.seal_with_crc()).unwrap();
        let entry = &state.entries[&2];
        assert_eq!(
            (entry.name.as_str(), entry.epoch, entry.owner.as_str()),
            ("orders-writer", 7, "")
        );
    }
}
