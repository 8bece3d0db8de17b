//! A durable work queue: a producer submits jobs, a consumer group works
//! through them and commits its position. Run it again and it submits three
//! more jobs and works through exactly those: the group resumes after its
//! committed offset, and the named producer after its last sequence.
//!
//! ```sh
//! cargo run -p millrace --example queue -- /tmp/queue-data
//! ```

use millrace::{Consumer, ConsumerOptions, Error, Producer, Record, Store, StoreOptions, TopicConfig};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "millrace-example-queue".to_string());
    let store = Store::open(&dir, StoreOptions::default())?;
    match store.create_topic("jobs", TopicConfig::with_partitions(1)) {
        // A second run finds the topic: that is fine.
        Ok(()) | Err(Error::TopicExists(_)) => {}
        Err(e) => return Err(e.into()),
    }

    // Submit three jobs. `send` returns once they are durable (`Always`).
    let mut producer = Producer::init(&store, "submitter")?;
    let run = producer.next_sequence("jobs", 0) / 3 + 1;
    let jobs: Vec<Record> = (1..=3)
        .map(|i| Record::new(format!("run {run} job {i}")).with_key(format!("job-{run}-{i}")))
        .collect();
    let sent = producer.send("jobs", 0, &jobs)?;
    println!("submitted offsets {}..{}", sent.base_offset, sent.next_offset);

    // Work through everything the group has not committed yet.
    let mut consumer = Consumer::new(&store, "workers", ConsumerOptions::default())?;
    consumer.subscribe(&["jobs"])?;
    let mut done = 0;
    loop {
        let batch = consumer.poll(Duration::from_millis(50))?;
        if batch.is_empty() {
            break;
        }
        for job in &batch {
            println!(
                "job {}: {}",
                job.record.offset,
                String::from_utf8_lossy(&job.record.value)
            );
            done += 1;
        }
        // At least once: a crash before this commit delivers the batch again.
        consumer.commit()?;
    }
    println!("processed {done} jobs");
    store.close()?;
    Ok(())
}
