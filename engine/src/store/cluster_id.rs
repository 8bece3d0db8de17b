//! The store's cluster id, `cluster.id` in the data directory
//! (design/format.md, "Cluster id"): 16 random bytes drawn once, at the
//! first writable open that finds no file, and kept for the life of the
//! data directory (restarts, a move or copy of the directory). A Kafka
//! front names the store by it (Metadata's `cluster_id`).
//!
//! A damaged file (wrong size, magic, version or CRC) never stops an open:
//! the open draws a new id and writes it over the damaged file (with a
//! warning; clients then see another cluster, which is all an id tells
//! them). `millrace check` of a closed store reports it (recoverable) and
//! `millrace repair` moves it to the backup, after which the next open draws
//! a new one.

use crate::codec::{Decoder, Encoder};
use crate::error::Result;
use crate::io::checked::IoContext;
use crate::io::{read_all, write_atomic, Storage};
use std::path::Path;

/// The file's name in the data directory.
pub(crate) const CLUSTER_ID_FILE: &str = "cluster.id";
const MAGIC: u32 = u32::from_le_bytes(*b"MRCI");
const VERSION: u16 = 1;
/// magic, version, 16 id bytes, CRC-32.
pub(crate) const CLUSTER_ID_FILE_BYTES: u64 = 4 + 2 + 16 + 4;

/// The id of the store at `store_path`: read from its file, or drawn and
/// written (`write_atomic`: durable before the open returns) when the file is
/// missing or damaged. Through a read-only storage the write stays in its
/// overlay: the id then holds for that open only. A failed write (a full
/// disk) does not fail the open: the id drawn holds for this open, and the
/// next open tries again.
pub(crate) fn load_or_create(storage: &dyn Storage, store_path: &Path) -> Result<[u8; 16]> {
    let path = store_path.join(CLUSTER_ID_FILE);
    if storage.exists(&path) {
        // A longer file is damage (read_all refuses it), handled as any other.
        let bytes = read_all(storage, &path, CLUSTER_ID_FILE_BYTES).ok();
        if let Some(id) = bytes.as_deref().and_then(decode) {
            return Ok(id);
        }
        tracing::warn!(
            path = %path.display(),
            "damaged cluster id replaced by a new one: Kafka clients see another cluster"
        );
    }
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&storage.random_u64().at("draw a cluster id", &path)?.to_le_bytes());
    id[8..].copy_from_slice(&storage.random_u64().at("draw a cluster id", &path)?.to_le_bytes());
    if let Err(error) = write_atomic(storage, &path, &encode(&id)).at("write cluster id", &path) {
        tracing::warn!(%error, "cluster id not written: this open uses a new one, the next open tries again");
    }
    Ok(id)
}

pub(crate) fn encode(id: &[u8; 16]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u32(MAGIC).u16(VERSION);
    for byte in id {
        e.u8(*byte);
    }
    e.seal_with_crc()
}

/// The id in a `cluster.id` file's bytes, `None` if they are damaged.
pub(crate) fn decode(bytes: &[u8]) -> Option<[u8; 16]> {
    let mut d = Decoder::with_crc(bytes)?;
    if d.u32()? != MAGIC || d.u16()? != VERSION {
        return None;
    }
    let mut id = [0u8; 16];
    for byte in &mut id {
        *byte = d.u8()?;
    }
    d.is_empty().then_some(id)
}

/// The id as Kafka writes cluster ids: 22 characters of unpadded URL-safe
/// base64.
pub(crate) fn to_text(id: &[u8; 16]) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digit = |value: u32| DIGITS.get((value & 63) as usize).map_or('A', |d| char::from(*d));
    let mut text = String::with_capacity(22);
    let (mut bits, mut value) = (0u32, 0u32);
    for byte in id {
        value = (value << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            text.push(digit(value >> bits));
        }
    }
    if bits > 0 {
        text.push(digit(value << (6 - bits)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let id: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        let bytes = encode(&id);
        assert_eq!(bytes.len() as u64, CLUSTER_ID_FILE_BYTES);
        assert_eq!(decode(&bytes), Some(id));
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert_eq!(decode(&flipped), None, "flip at {at}");
            assert_eq!(decode(&bytes[..at]), None, "truncated to {at}");
        }
        assert_eq!(to_text(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(to_text(&[0xff; 16]), "_____________________w");
    }
}
