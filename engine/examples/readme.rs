//! The README's embedding snippet, verbatim below this header (checked by
//! engine/tests/it/examples.rs, which runs it twice in one directory).

#![expect(clippy::indexing_slicing, reason = "the snippet reads the record it just appended")]

use millrace::{Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};

fn main() -> Result<(), Error> {
    let store = Store::open("./data", StoreOptions::default())?; // Durability::Always
    match store.create_topic("orders", TopicConfig::with_partitions(4)) {
        Ok(()) | Err(Error::TopicExists(_)) => {} // a second run finds it
        Err(e) => return Err(e),
    }
    let at = store.append("orders", 0, &[Record::new("hello").with_key("k")])?;
    let read = store.read("orders", 0, at.base_offset, ReadOptions::default())?;
    assert_eq!(read.records[0].value, b"hello");
    store.close()
}
