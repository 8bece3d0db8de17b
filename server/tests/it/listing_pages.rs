//! The last unpaged listings paged (issue 27, item 5): the reset audit
//! (`ResetAuditPage`, cursor = audit offset) and a group's lag (`LagPage`,
//! cursor = (topic, partition)) are listed completely through pages under
//! the smallest frame; a limit above the maximum is refused; the unpaged
//! `ResetAudit` and `Lag` (same bytes as before) still get their whole
//! answer when it fits, and `InvalidInput` naming the paged request when not.

use crate::common;

use common::{start_server, Raw};
use millrace_server::error_code::ErrorCode;
use millrace_server::frame::FRAME_BYTES_MAX_LOWEST;
use millrace_server::listing::PAGE_ENTRIES_MAX;
use millrace_server::messages::{GroupQuery, Request, ResetAudit, ResetOffsets, ResetTarget, Response};
use millrace_server::{Client, ClientError};

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(wire)) => wire.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Apply `resets` resets of every partition of `topic` for `group`.
async fn reset_many(client: &Client, group: &str, topic: &str, resets: usize) {
    for _ in 0..resets {
        let plan = client
            .reset_offsets(ResetOffsets {
                group: group.into(),
                topic: Some(topic.into()),
                partitions: vec![],
                target: ResetTarget::Earliest,
                dry_run: false,
                force: true,
            })
            .await
            .unwrap();
        assert!(plan.applied);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_audit_is_listed_completely_through_pages_under_a_4_kib_frame() {
    let server = start_server(|c| c.frame_bytes_max = FRAME_BYTES_MAX_LOWEST).await;
    let client = server.client().await;
    client.create_topic("in", 10, &[]).await.unwrap();
    // 1,500 entries: 100 resets of 10 partitions for "a", 50 for "b".
    reset_many(&client, "a", "in", 100).await;
    reset_many(&client, "b", "in", 50).await;

    let mut pages = client.reset_audit_pages(None);
    let mut listed = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        assert!(!page.is_empty());
        assert!(page.len() < 100, "a page of {} entries in a 4 KiB frame", page.len());
        listed.extend(page);
        page_count += 1;
    }
    assert!(page_count >= 15, "{page_count} pages");
    assert_eq!(listed.len(), 1_500);
    // Oldest first, each entry once: "a"'s 1,000, then "b"'s 500, partitions
    // 0..10 in each reset.
    for (i, entry) in listed.iter().enumerate() {
        assert_eq!(entry.group, if i < 1_000 { "a" } else { "b" }, "entry {i}");
        assert_eq!(entry.partition, (i % 10) as u32, "entry {i}");
    }
    assert!(listed.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));

    // One group only, with an explicit limit: the cursor is exclusive.
    let first = client.reset_audit_page(Some("b"), None, 7).await.unwrap();
    assert_eq!(first.entries.len(), 7);
    let cursor = first.next_after.expect("more pages");
    let second = client.reset_audit_page(Some("b"), Some(cursor), 7).await.unwrap();
    assert_eq!(second.entries.len(), 7);
    assert_eq!(second.entries[0].partition, 7);
    let only_b = client.reset_audit_pages(Some("b")).with_limit(33).all().await.unwrap();
    assert_eq!(only_b, listed[1_000..].to_vec());

    // The unpaged request does not fit: refused, naming the paged one; the
    // client's `reset_audit` walks the pages.
    let mut raw = Raw::hello(server.addr()).await;
    raw.request(2, &Request::ResetAudit(ResetAudit { group: None })).await;
    let error = raw.response().await.unwrap().1.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("ResetAuditPage"), "{}", error.message);
    raw.request(3, &Request::Ping).await;
    assert!(raw.response().await.unwrap().1.is_ok());
    assert_eq!(client.reset_audit(None).await.unwrap(), listed);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_reset_audit_is_answered_whole_when_it_fits_and_a_limit_above_the_maximum_is_refused() {
    let server = start_server(|c| c.frame_bytes_max = FRAME_BYTES_MAX_LOWEST).await;
    let client = server.client().await;
    client.create_topic("in", 2, &[]).await.unwrap();
    reset_many(&client, "a", "in", 1).await;
    let mut raw = Raw::hello(server.addr()).await;
    raw.request(2, &Request::ResetAudit(ResetAudit { group: None })).await;
    let Response::ResetAudit(entries) = raw.response().await.unwrap().1.unwrap() else {
        panic!("not the audit")
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(
        code(client.reset_audit_page(None, None, PAGE_ENTRIES_MAX + 1).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(client.lag_page("a", None, None, u32::MAX).await),
        ErrorCode::InvalidInput
    );
    let page = client.reset_audit_page(None, None, PAGE_ENTRIES_MAX).await.unwrap();
    assert_eq!(page.entries, entries);
    assert_eq!(page.next_after, None);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_lag_on_1200_partitions_is_listed_completely_through_pages() {
    let server = start_server(|c| c.frame_bytes_max = FRAME_BYTES_MAX_LOWEST).await;
    let client = server.client().await;
    client.create_topic("wide", 1_200, &[]).await.unwrap();
    client.create_topic("narrow", 2, &[]).await.unwrap();
    // Commits in requests that fit the 4 KiB frame; odd partitions of
    // "wide" stay uncommitted.
    let even: Vec<(&str, u32, u64)> = (0..1_200).step_by(2).map(|p| ("wide", p, 0)).collect();
    for chunk in even.chunks(50) {
        client.commit_offsets("g", chunk).await.unwrap();
    }
    client.commit_offsets("g", &[("narrow", 1, 0)]).await.unwrap();

    // Every partition of the topic, committed or not, in partition order.
    let mut pages = client.lag_pages("g", Some("wide"));
    let mut listed = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        assert!(!page.is_empty());
        listed.extend(page);
        page_count += 1;
    }
    assert!(page_count >= 10, "{page_count} pages");
    let keys: Vec<u32> = listed.iter().map(|l| l.partition).collect();
    assert_eq!(keys, (0..1_200).collect::<Vec<u32>>());
    assert!(listed.iter().all(|l| l.topic == "wide"));
    assert!(listed.iter().all(|l| l.committed.is_some() == (l.partition % 2 == 0)));

    // Without a topic: every partition the group committed to, in
    // (topic, partition) order.
    let committed = client.lag_pages("g", None).with_limit(99).all().await.unwrap();
    let mut expected = vec![("narrow".to_string(), 1)];
    expected.extend((0..1_200).step_by(2).map(|p| ("wide".to_string(), p)));
    let keys: Vec<(String, u32)> = committed.into_iter().map(|l| (l.topic, l.partition)).collect();
    assert_eq!(keys, expected);

    // The unpaged Lag does not fit: refused, naming LagPage; it fits for
    // the narrow topic and is answered whole.
    let mut raw = Raw::hello(server.addr()).await;
    let lag = |topic: &str| {
        Request::Lag(GroupQuery {
            group: "g".into(),
            topic: Some(topic.into()),
        })
    };
    raw.request(2, &lag("wide")).await;
    let error = raw.response().await.unwrap().1.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("LagPage"), "{}", error.message);
    raw.request(3, &lag("narrow")).await;
    let Response::Lag(narrow) = raw.response().await.unwrap().1.unwrap() else {
        panic!("not the lag")
    };
    assert_eq!(narrow.len(), 2);
    assert_eq!(narrow[1].committed, Some(0));
    assert_eq!(client.lag("g", Some("wide")).await.unwrap(), listed);
    server.handle.shutdown().await.unwrap();
}
