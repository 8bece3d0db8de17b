//! The producer registry file `producers.registry` in the data directory: the
//! durable half of [`ProducerEpochs`]. Replaced whole by `write_atomic` on
//! every `init_producer` (its size follows the number of live producers).
//! Layout in design/format.md ("Producer registry").

use crate::config::StoreOptions;
use crate::error::{Error, Result};
use crate::internal_codec::{Decoder, Encoder};
use crate::producer_state::{
    ProducerEpochs, RegistryEntry, RegistryState, DEDUP_BATCHES_MAX, PRODUCERS_MAX, PRODUCER_NAME_BYTES_MAX,
};
use crate::storage::{read_all, write_atomic, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const REGISTRY_FILE: &str = "producers.registry";
const REGISTRY_MAGIC: u32 = u32::from_le_bytes(*b"MRPR");
const REGISTRY_VERSION: u16 = 1;
/// Largest registry file accepted: PRODUCERS_MAX entries of the largest size.
const REGISTRY_BYTES_MAX: u64 = 32 + PRODUCERS_MAX as u64 * (8 + 2 + 8 + 2 + PRODUCER_NAME_BYTES_MAX as u64);

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
        let path = store_path.join(REGISTRY_FILE);
        let state = if storage.exists(&path) {
            let bytes = read_all(storage.as_ref(), &path, REGISTRY_BYTES_MAX)
                .map_err(|e| Error::io("read producer registry", &path, e))?;
            match decode_registry(&bytes) {
                Some(state) => state,
                // Producer ids and epochs are not worth the whole store: start
                // empty (every producer gets `UnknownProducer` and inits again);
                // `Store::open` raises the next id past every id the partitions
                // remember, so no id is handed out twice. `millrace check`
                // reports the file, `millrace repair` moves it to a backup.
                None => {
                    tracing::warn!(
                        path = %path.display(),
                        "damaged producer registry ignored: producers must init again; ids continue past those in the log"
                    );
                    RegistryState::default()
                }
            }
        } else {
            RegistryState::default()
        };
        Ok(ProducerRegistry {
            epochs: ProducerEpochs::new(state, expiry_ms),
            window: options.producer_dedup_batches,
            path,
            storage,
        })
    }

    /// Register or re-register `name`; durable on return.
    pub fn init(&self, name: &str, now_ms: i64) -> Result<(u64, u16)> {
        if name.is_empty() || name.len() > PRODUCER_NAME_BYTES_MAX {
            return Err(Error::invalid(
                "producer name",
                format!("{name:?}: use 1 to {PRODUCER_NAME_BYTES_MAX} bytes"),
            ));
        }
        self.epochs.init(name, now_ms, |state| {
            write_atomic(self.storage.as_ref(), &self.path, &encode_registry(state))
                .map_err(|e| Error::io("write producer registry", &self.path, e))
        })
    }
}

fn encode_registry(state: &RegistryState) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u32(REGISTRY_MAGIC).u16(REGISTRY_VERSION).u64(state.next_id);
    e.u32(state.entries.len() as u32);
    for (id, entry) in &state.entries {
        e.u64(*id)
            .u16(entry.epoch)
            .i64(entry.last_active_ms)
            .short_str(&entry.name);
    }
    e.seal_with_crc()
}

/// Decode a registry file (`None` if it is damaged); for `millrace check`.
pub(crate) fn decode_registry(bytes: &[u8]) -> Option<RegistryState> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u32()? != REGISTRY_MAGIC || d.u16()? != REGISTRY_VERSION {
        return None;
    }
    let next_id = d.u64()?;
    let count = d.u32()? as usize;
    if count > PRODUCERS_MAX {
        return None;
    }
    let mut state = RegistryState {
        next_id,
        entries: Default::default(),
    };
    for _ in 0..count {
        let id = d.u64()?;
        let epoch = d.u16()?;
        let last_active_ms = d.i64()?;
        let name = d.short_str()?;
        if id >= next_id {
            return None;
        }
        state.entries.insert(
            id,
            RegistryEntry {
                name,
                epoch,
                last_active_ms,
            },
        );
    }
    d.is_empty().then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_roundtrip() {
        let mut state = RegistryState {
            next_id: 3,
            ..RegistryState::default()
        };
        state.entries.insert(
            2,
            RegistryEntry {
                name: "orders-writer".into(),
                epoch: 7,
                last_active_ms: 1234,
            },
        );
        let bytes = encode_registry(&state);
        assert_eq!(decode_registry(&bytes), Some(state));
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert_eq!(decode_registry(&bad), None);
    }
}
