//! `FailRecord` through the real server never moves a group's committed
//! offset backwards: a group that committed 100 and then dead-letters the
//! record at offset 6 (a record it had skipped, or a late failure report)
//! keeps 100, with its metadata; the record is in the DLQ all the same. A
//! failure further on (110) does not commit past the records before it
//! either; the failure of the group's next record (100) commits past it. Shown by reading
//! the committed offsets back over the protocol after each request, and again
//! after a restart of the server on the same directory.

use crate::common;

use common::test_config;
use millrace::Record;
use millrace_server::messages::*;
use millrace_server::server::start;
use millrace_server::{Client, ClientOptions};

async fn committed(client: &Client) -> (u64, Vec<u8>) {
    match client
        .call(Request::FetchOffsets(GroupQuery {
            group: "g".into(),
            topic: Some("in".into()),
        }))
        .await
        .unwrap()
    {
        Response::Offsets(offsets) => {
            assert_eq!(offsets.len(), 1, "{offsets:?}");
            (offsets[0].offset, offsets[0].metadata.clone())
        }
        other => panic!("{other:?}"),
    }
}

fn fail(producer: &ProducerInit, offset: u64) -> Request {
    Request::FailRecord(FailRecord {
        producer_id: producer.producer_id,
        epoch: producer.epoch,
        group: "g".into(),
        topic: "in".into(),
        partition: 0,
        offset,
        stage: "transform".into(),
        error_class: "ParseError".into(),
        error_message: "late failure report".into(),
        max_attempts: 1,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_record_never_moves_a_committed_offset_back() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(test_config(dir.path())).await.unwrap();
    let client = Client::connect(handle.local_addr(), ClientOptions::default())
        .await
        .unwrap();
    client.create_topic("in", 1, &[]).await.unwrap();
    let values: Vec<Record> = (0..120u8).map(|i| Record::new(vec![i])).collect();
    client.produce("in", 0, values).await.unwrap();
    let commit = Request::CommitOffsets(CommitOffsets {
        group: "g".into(),
        offsets: vec![PartitionOffset {
            topic: "in".into(),
            partition: 0,
            offset: 100,
            metadata: b"m".to_vec(),
        }],
    });
    assert_eq!(client.call(commit).await.unwrap(), Response::Empty);
    let Response::ProducerInit(producer) = client
        .call(Request::InitProducer(InitProducer { name: "stage".into() }))
        .await
        .unwrap()
    else {
        panic!()
    };

    let Response::RecordFailed(failed) = client.call(fail(&producer, 6)).await.unwrap() else {
        panic!()
    };
    assert!(failed.dead_lettered);
    assert_eq!(
        committed(&client).await,
        (100, b"m".to_vec()),
        "dead-lettering offset 6 moved the committed offset back"
    );
    let Response::DlqListing(listing) = client
        .call(Request::DlqList(DlqList {
            topic: "in".into(),
            from_offset: 0,
            max_records: 0,
            error_contains: None,
            source_partition: None,
            since_ms: None,
            until_ms: None,
        }))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].letter.source_offset, 6);
    assert_eq!(listing.entries[0].letter.record.value, vec![6u8]);

    // Past the committed offset, records 100..110 may be unfinished: the
    // failure of 110 leaves the group where it is (its own commit moves on).
    client.call(fail(&producer, 110)).await.unwrap();
    assert_eq!(committed(&client).await.0, 100);
    // The group's next record: dead-lettering it commits past it.
    client.call(fail(&producer, 100)).await.unwrap();
    assert_eq!(committed(&client).await.0, 101);

    // The offset the group had stays after a restart (transaction recovery).
    drop(client);
    handle.shutdown().await.unwrap();
    let handle = start(test_config(dir.path())).await.unwrap();
    let client = Client::connect(handle.local_addr(), ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(committed(&client).await.0, 101);
    handle.shutdown().await.unwrap();
}
