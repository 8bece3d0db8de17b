//! Paged listings through the real server (issue 27, item 5): 2,500 groups
//! are listed completely, each once and in order, through `ListGroupsPage`
//! while more groups are added between pages; pages are cut by the entry
//! limit and by the frame size; a limit above the maximum is refused; a
//! group's committed offsets page the same way; and the unpaged requests of
//! older clients (`ListGroups`, `ListTopics`, `FetchOffsets`, same bytes as
//! before) still get their old answer, or `InvalidInput` naming the paged
//! request when the list does not fit in one frame.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::collections::BTreeSet;

use common::{start_server, Raw};
use millrace::Record;
use millrace_server::error_code::ErrorCode;
use millrace_server::frame::FRAME_BYTES_MAX_LOWEST;
use millrace_server::listing::PAGE_ENTRIES_MAX;
use millrace_server::messages::{GroupQuery, Request, Response};
use millrace_server::{Client, ClientError};

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server(wire)) => wire.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Commit offset 0 of `t`/0 for every group, a few requests in flight at once.
async fn commit_groups(client: &Client, groups: Vec<String>) {
    let mut tasks = Vec::new();
    for chunk in groups.chunks(groups.len().div_ceil(8).max(1)) {
        let client = client.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for group in chunk {
                client.commit_offsets(&group, &[("t", 0, 0)]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_listed_completely_through_pages_while_groups_are_added() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("t", 1, &[]).await.unwrap();
    let initial: Vec<String> = (0..2_500).map(|i| format!("g{i:05}")).collect();
    commit_groups(&client, initial.clone()).await;

    let mut added = BTreeSet::new();
    let mut listed = Vec::new();
    let mut pages = client.group_pages();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        assert!(page.len() <= PAGE_ENTRIES_MAX as usize, "{}", page.len());
        listed.extend(page);
        page_count += 1;
        // Between pages, groups appear before and after the cursor.
        let more: Vec<String> = (0..40).map(|i| format!("g{:05}-{page_count}", i * 61)).collect();
        added.extend(more.iter().cloned());
        commit_groups(&client, more).await;
    }
    assert!(page_count >= 3, "{page_count} pages");
    // Strictly increasing: no duplicates, in order.
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "not strictly sorted");
    let listed_set: BTreeSet<&String> = listed.iter().collect();
    for group in &initial {
        assert!(listed_set.contains(group), "{group} was never listed");
    }
    for group in &listed {
        assert!(
            initial.binary_search(group).is_ok() || added.contains(group) || group.starts_with("__"),
            "{group} listed but never committed"
        );
    }
    // A walk once nothing changes lists exactly what the store has.
    let everything = client.list_groups().await.unwrap();
    assert_eq!(everything.len(), initial.len() + added.len());
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_limit_above_the_maximum_is_refused_and_the_cursor_is_exclusive() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    for topic in ["a", "b", "c"] {
        client.create_topic(topic, 1, &[]).await.unwrap();
    }
    assert_eq!(
        code(client.list_topics_page(None, PAGE_ENTRIES_MAX + 1).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(client.list_groups_page(None, u32::MAX).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(
            client
                .committed_offsets_page("g", None, None, PAGE_ENTRIES_MAX + 1)
                .await
        ),
        ErrorCode::InvalidInput
    );
    // The connection stays usable; the maximum itself is fine.
    let page = client.list_topics_page(None, PAGE_ENTRIES_MAX).await.unwrap();
    assert_eq!(page.names, ["a", "b", "c"]);
    assert_eq!(page.next_after, None);
    let page = client.list_topics_page(None, 2).await.unwrap();
    assert_eq!(page.names, ["a", "b"]);
    assert_eq!(page.next_after.as_deref(), Some("b"));
    let page = client.list_topics_page(Some("b"), 2).await.unwrap();
    assert_eq!(page.names, ["c"]);
    assert_eq!(page.next_after, None);
    // A cursor that is no name lists what sorts after it.
    let page = client.list_topics_page(Some("aa"), 0).await.unwrap();
    assert_eq!(page.names, ["b", "c"]);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_committed_offsets_are_paged_in_partition_order() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("wide", 250, &[]).await.unwrap();
    client.create_topic("narrow", 1, &[]).await.unwrap();
    let partitions: Vec<(&str, u32, u64)> = (0..250).map(|p| ("wide", p, 0)).collect();
    client.commit_offsets("g", &partitions).await.unwrap();
    client.commit_offsets("g", &[("narrow", 0, 0)]).await.unwrap();
    let mut pages = client.committed_offset_pages("g", None).with_limit(100);
    let mut listed = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        assert!(page.len() <= 100);
        listed.extend(page.into_iter().map(|o| (o.topic, o.partition)));
        page_count += 1;
    }
    assert_eq!(page_count, 3);
    let mut expected = vec![("narrow".to_string(), 0)];
    expected.extend((0..250).map(|p| ("wide".to_string(), p)));
    assert_eq!(listed, expected);
    // One topic only.
    let wide = client.committed_offset_pages("g", Some("narrow")).all().await.unwrap();
    assert_eq!(wide.len(), 1);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_unpaged_requests_get_their_old_answer_or_a_refusal_when_too_large() {
    // The smallest frame: 3 KiB of names per response.
    let server = start_server(|c| c.frame_bytes_max = FRAME_BYTES_MAX_LOWEST).await;
    let client = server.client().await;
    client.create_topic("t", 1, &[]).await.unwrap();
    client.produce("t", 0, vec![Record::new(b"x".to_vec())]).await.unwrap();
    let few: Vec<String> = (0..3).map(|i| format!("few-{i}")).collect();
    commit_groups(&client, few.clone()).await;

    // Byte for byte what a client of the unpaged protocol sends.
    let mut raw = Raw::hello(server.addr()).await;
    raw.request(2, &Request::ListGroups).await;
    let (_, result) = raw.response().await.unwrap();
    assert_eq!(result.unwrap(), Response::Groups(few.clone()));
    raw.request(3, &Request::ListTopics).await;
    let (_, result) = raw.response().await.unwrap();
    assert_eq!(result.unwrap(), Response::Topics(vec!["t".to_string()]));
    raw.request(
        4,
        &Request::FetchOffsets(GroupQuery {
            group: "few-0".into(),
            topic: None,
        }),
    )
    .await;
    let (_, result) = raw.response().await.unwrap();
    let Response::Offsets(offsets) = result.unwrap() else {
        panic!("not offsets")
    };
    assert_eq!(offsets.len(), 1);

    // 40 groups of 200-byte names do not fit in one 4 KiB frame.
    let long: Vec<String> = (0..40).map(|i| format!("{i:03}{}", "x".repeat(197))).collect();
    commit_groups(&client, long.clone()).await;
    raw.request(5, &Request::ListGroups).await;
    let (_, result) = raw.response().await.unwrap();
    let error = result.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("ListGroupsPage"), "{}", error.message);
    // The connection is still open, and the pages carry everything.
    raw.request(6, &Request::Ping).await;
    assert!(raw.response().await.unwrap().1.is_ok());
    let mut pages = client.group_pages();
    let mut page_count = 0;
    let mut listed = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        assert!(page.len() < 16, "a page of {} long names", page.len());
        listed.extend(page);
        page_count += 1;
    }
    assert!(page_count >= 3, "{page_count}");
    let mut expected: Vec<String> = long.into_iter().chain(few).collect();
    expected.sort();
    assert_eq!(listed, expected);
    server.handle.shutdown().await.unwrap();
}
