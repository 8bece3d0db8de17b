//! An exactly-once pipeline stage: consume orders, validate and transform
//! them, append the valid ones to `valid-orders` and dead-letter the invalid
//! ones, committing the outputs, the dead letters and the group's offset in
//! one transaction. A crash at any point leaves either all of a batch's
//! effects or none, and the stage resumes right after its last commit. Run
//! it again: it ingests five more orders and processes only those.
//!
//! ```sh
//! cargo run -p millrace --example pipeline_stage -- /tmp/pipeline-data
//! ```

use millrace::dlq::DeadLetter;
use millrace::{ConsumedRecord, Consumer, ConsumerOptions, Error, Producer, Record, Store, StoreOptions, TopicConfig};
use std::time::Duration;

const GROUP: &str = "validate";

fn create(store: &Store, topic: &str) -> Result<(), Error> {
    match store.create_topic(topic, TopicConfig::with_partitions(1)) {
        Ok(()) | Err(Error::TopicExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The dead letter for an order that does not parse, with its provenance.
fn dead_letter(consumed: &ConsumedRecord, error: &str) -> DeadLetter {
    DeadLetter {
        source_topic: consumed.topic.clone(),
        source_partition: consumed.partition,
        source_offset: consumed.record.offset,
        group: GROUP.into(),
        stage: "validate".into(),
        error_class: "InvalidAmount".into(),
        error_message: error.to_string(),
        attempts: 1,
        first_failure_ms: consumed.record.timestamp_ms,
        last_failure_ms: consumed.record.timestamp_ms,
        redrive_count: 0,
        record: consumed.record.to_record(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "millrace-example-pipeline".to_string());
    let store = Store::open(&dir, StoreOptions::default())?;
    create(&store, "orders")?;
    create(&store, "valid-orders")?;

    // Ingest: five orders, one of them invalid. The producer name plus its
    // next sequence make a rerun of the ingest step append each order once.
    let mut ingest = Producer::init(&store, "ingest")?;
    let first = ingest.next_sequence("orders", 0);
    let orders: Vec<Record> = (first..first + 5)
        .map(|n| {
            Record::new(if n % 5 == 2 {
                format!("order {n}: ?")
            } else {
                format!("order {n}: {}", n * 10)
            })
        })
        .collect();
    ingest.send("orders", 0, &orders)?;

    // The stage.
    let stage = Producer::init(&store, "validate-stage")?;
    let mut consumer = Consumer::new(&store, GROUP, ConsumerOptions::default())?;
    consumer.assign(&[("orders", 0)])?;
    let (mut valid, mut dead) = (0, 0);
    loop {
        let batch = consumer.poll(Duration::from_millis(50))?;
        let Some(last) = batch.last() else { break };
        let next_offset = last.record.offset + 1;
        let mut txn = store.begin_transaction(stage.id())?;
        let (mut batch_valid, mut batch_dead) = (0, 0);
        let mut staged = Ok(());
        for consumed in &batch {
            let text = String::from_utf8_lossy(&consumed.record.value).into_owned();
            let amount = text.rsplit(' ').next().unwrap_or("").parse::<u64>();
            staged = match amount {
                Ok(cents) => {
                    batch_valid += 1;
                    let out = Record::new(format!("{text} -> {cents} cents"))
                        .with_header("source.offset", consumed.record.offset.to_string());
                    txn.append("valid-orders", 0, &[out])
                }
                Err(e) => {
                    batch_dead += 1;
                    txn.dead_letter(&dead_letter(consumed, &format!("{text:?}: {e}")))
                }
            };
            if staged.is_err() {
                break;
            }
        }
        let committed = staged
            .and_then(|()| txn.commit_offset(GROUP, "orders", 0, next_offset, b""))
            .and_then(|()| txn.commit());
        match committed {
            Ok(_) => {
                valid += batch_valid;
                dead += batch_dead;
            }
            Err(e) => {
                // Nothing of the batch was applied: rewind to the committed
                // offset so the next poll delivers it again, or stop.
                let resume = consumer.committed("orders", 0)?.unwrap_or(0);
                consumer.seek("orders", 0, resume)?;
                if !e.is_retriable() {
                    return Err(e.into());
                }
            }
        }
    }
    println!("stage: {valid} valid, {dead} dead-lettered");
    println!(
        "committed offset {}; valid-orders end {}; dlq depth {}",
        consumer.committed("orders", 0)?.unwrap_or(0),
        store.offsets("valid-orders", 0)?.1,
        store.dlq_stats("orders")?.depth
    );
    store.close()?;
    Ok(())
}
