//! A per-transaction timeout (`Store::begin_transaction_with_timeout`, a
//! Kafka producer's `transaction.timeout.ms`): a transaction older than its
//! own timeout cannot commit while one begun with the store-wide default can;
//! a timeout of zero or above `StoreOptions::transaction_timeout_max` is
//! `InvalidInput` naming `transaction_timeout`, and so is a store-wide default
//! above the maximum at open.
use crate::common;

use millrace::{Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::time::Duration;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn is_timeout_input(err: &Error) -> bool {
    matches!(
        err,
        Error::InvalidInput {
            what: "transaction_timeout",
            ..
        }
    )
}

#[test]
fn each_transaction_keeps_its_own_timeout() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let producer = store.init_producer("p").unwrap().id();
    let mut short = store
        .begin_transaction_with_timeout(producer, Duration::from_millis(1))
        .unwrap();
    short.append("t", 0, &[Record::new("short")]).unwrap();
    let mut default = store.begin_transaction(producer).unwrap();
    default.append("t", 0, &[Record::new("default")]).unwrap();
    // Past the short one's timeout, far inside the default's (60 s).
    std::thread::sleep(Duration::from_millis(20));
    let err = short.commit().unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                what: "transaction",
                ..
            }
        ),
        "{err:?}"
    );
    default.commit().unwrap();
    let values: Vec<Vec<u8>> = store
        .read("t", 0, 0, ReadOptions::default())
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values, vec![b"default".to_vec()]);
}

#[test]
fn a_timeout_above_the_maximum_or_zero_is_refused() {
    let dir = common::scratch_dir();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            transaction_timeout_max: Duration::from_secs(120),
            ..options()
        },
    )
    .unwrap();
    let producer = store.init_producer("p").unwrap().id();
    for bad in [
        Duration::ZERO,
        Duration::from_millis(120_001),
        Duration::from_secs(3600),
    ] {
        let err = store.begin_transaction_with_timeout(producer, bad).err().unwrap();
        assert!(is_timeout_input(&err), "{bad:?}: {err:?}");
    }
    store
        .begin_transaction_with_timeout(producer, Duration::from_secs(120))
        .unwrap()
        .commit()
        .unwrap();
    store.close().unwrap();
    let err = Store::open(
        dir.path(),
        StoreOptions {
            transaction_timeout: Duration::from_secs(121),
            transaction_timeout_max: Duration::from_secs(120),
            ..options()
        },
    )
    .err()
    .unwrap();
    assert!(is_timeout_input(&err), "{err:?}");
}
