//! Dead-letter queue redrive: a payment that fails (an unknown currency) is
//! dead-lettered with its provenance; once the cause is fixed, `dlq_redrive`
//! appends it to its source topic again, exactly once, however often the
//! redrive runs. A record redriven `redrive_cap` times stays in the DLQ.
//! Run it again: one more payment fails and is redriven; the first is not
//! redriven twice.
//!
//! ```sh
//! cargo run -p millrace --example dlq_redrive -- /tmp/dlq-data
//! ```

use millrace::dlq::{DlqFilter, FailOutcome, RedriveOptions};
use millrace::{Error, Producer, ReadOptions, Record, Store, StoreOptions, TopicConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "millrace-example-dlq".to_string());
    let store = Store::open(&dir, StoreOptions::default())?;
    match store.create_topic("payments", TopicConfig::with_partitions(1)) {
        Ok(()) | Err(Error::TopicExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut producer = Producer::init(&store, "payments-in")?;
    let run = producer.next_sequence("payments", 0) + 1;
    let sent = producer.send("payments", 0, &[Record::new(format!("payment {run}: 12.50 XTS"))])?;

    // The processing stage fails on the payment: after one attempt
    // (`max_attempts` 1) `fail_record` moves it to `__dlq.payments` and
    // commits the group past it, in one transaction.
    let read = store.read("payments", 0, sent.base_offset, ReadOptions::default())?;
    for record in &read.records {
        let outcome = store.fail_record(
            producer.id(),
            "settle",
            "payments",
            0,
            record,
            "settle",
            "UnknownCurrency",
            "XTS is not configured",
            1,
        )?;
        if let FailOutcome::DeadLettered { dlq_offset, .. } = outcome {
            println!("dead-lettered offset {} at dlq offset {dlq_offset}", record.offset);
        }
    }
    for entry in store.dlq_list("payments", &DlqFilter::default())? {
        println!(
            "dlq {}: {} ({}) from payments/{} offset {}{}",
            entry.dlq_offset,
            entry.letter.error_class,
            entry.letter.error_message,
            entry.letter.source_partition,
            entry.letter.source_offset,
            if entry.redriven.is_some() { ", redriven" } else { "" }
        );
    }

    // The currency is configured now: redrive, twice. The second run finds
    // every record marked and appends nothing.
    let options = RedriveOptions {
        redrive_cap: 3,
        ..RedriveOptions::default()
    };
    let first = store.dlq_redrive("payments", &options)?;
    let second = store.dlq_redrive("payments", &options)?;
    println!(
        "redriven {} (then {} on the second run), capped {}",
        first.redriven.len(),
        second.redriven.len(),
        first.capped.len()
    );
    println!("dlq depth {}", store.dlq_stats("payments")?.depth);
    store.close()?;
    Ok(())
}
