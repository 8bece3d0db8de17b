//! The group handlers through `dispatch::handle`, with requests and
//! responses encoded by the front's own codec.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::kafka::front::{Conn, Front, KafkaConfig};
use crate::kafka::protocol::{messages, Request, Response};
use crate::server::service::Service;

/// A front over a fresh store (the directory lives as long as the front).
pub(super) struct Fixture {
    pub front: Front,
    _dir: tempfile::TempDir,
}

pub(super) fn fixture(config: KafkaConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = millrace::Store::open(dir.path(), millrace::StoreOptions::default()).expect("store");
    let service = Service {
        frame_bytes_max: 1 << 20,
        fetch_wait_max_ms: 1000,
        ..Service::for_tests(store)
    };
    Fixture {
        front: Front::new(Arc::new(service), config),
        _dir: dir,
    }
}

pub(super) fn conn() -> Conn {
    Conn::new(SocketAddr::from(([127, 0, 0, 1], 40000)))
}

pub(super) use crate::kafka::front::test_support::call;

#[test]
fn find_coordinator_answers_this_node_for_groups_and_transactions() {
    let config = KafkaConfig {
        advertised: Some(("broker.example".into(), 19092)),
        node_id: 3,
        ..KafkaConfig::default()
    };
    let fixture = fixture(config);
    let mut conn = conn();
    for version in 0..=2 {
        for key_type in [0, 1] {
            if version == 0 && key_type == 1 {
                continue;
            }
            let request = Request::FindCoordinator(messages::groups::FindCoordinatorRequest {
                key: "g",
                key_type,
                ..Default::default()
            });
            call(&fixture.front, &mut conn, version, &request, |response| {
                let Response::FindCoordinator(r) = response else {
                    panic!("{response:?}")
                };
                assert_eq!(r.error_code, 0);
                assert_eq!((r.node_id, r.host, r.port), (3, "broker.example", 19092));
            });
        }
    }
    let request = Request::FindCoordinator(messages::groups::FindCoordinatorRequest {
        key: "g",
        key_type: 2,
        ..Default::default()
    });
    call(&fixture.front, &mut conn, 1, &request, |response| {
        let Response::FindCoordinator(r) = response else {
            panic!("{response:?}")
        };
        assert_eq!(r.error_code, crate::kafka::front::errors::INVALID_REQUEST);
    });
}

#[test]
fn find_coordinator_without_advertised_answers_the_listen_address() {
    let config = KafkaConfig {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 29092))),
        ..KafkaConfig::default()
    };
    let fixture = fixture(config);
    let request = Request::FindCoordinator(messages::groups::FindCoordinatorRequest {
        key: "g",
        ..Default::default()
    });
    call(&fixture.front, &mut conn(), 2, &request, |response| {
        let Response::FindCoordinator(r) = response else {
            panic!("{response:?}")
        };
        assert_eq!((r.error_code, r.node_id, r.host, r.port), (0, 0, "127.0.0.1", 29092));
    });
}

use crate::kafka::front::errors;
use messages::groups as g;
use messages::offsets as o;

/// What a JoinGroup answered.
#[derive(Debug, Clone)]
struct JoinAnswer {
    error: i16,
    generation: i32,
    protocol: String,
    leader: String,
    member_id: String,
    members: Vec<(String, Vec<u8>)>,
}

fn join_as(front: &Front, version: i16, group: &str, member_id: &str, protocols: &[(&str, &[u8])]) -> JoinAnswer {
    let request = Request::JoinGroup(g::JoinGroupRequest {
        group_id: group,
        session_timeout_ms: 1000,
        rebalance_timeout_ms: 5000,
        member_id,
        protocol_type: "consumer",
        protocols: protocols
            .iter()
            .map(|(name, metadata)| g::JoinGroupRequestProtocol { name, metadata })
            .collect(),
        ..Default::default()
    });
    call(front, &mut conn(), version, &request, |response| {
        let Response::JoinGroup(r) = response else {
            panic!("{response:?}")
        };
        JoinAnswer {
            error: r.error_code,
            generation: r.generation_id,
            protocol: r.protocol_name.unwrap_or_default().to_string(),
            leader: r.leader.to_string(),
            member_id: r.member_id.to_string(),
            members: r
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), m.metadata.to_vec()))
                .collect(),
        }
    })
}

/// Joins at v5 the way current clients do: MEMBER_ID_REQUIRED, then again.
fn join_new(front: &Front, group: &str, protocols: &[(&str, &[u8])]) -> JoinAnswer {
    let first = join_as(front, 5, group, "", protocols);
    assert_eq!(first.error, errors::MEMBER_ID_REQUIRED);
    assert!(first.member_id.starts_with("test-client-"), "{}", first.member_id);
    join_as(front, 5, group, &first.member_id, protocols)
}

fn sync(front: &Front, group: &str, generation: i32, member_id: &str, assignments: &[(&str, &[u8])]) -> (i16, Vec<u8>) {
    let request = Request::SyncGroup(g::SyncGroupRequest {
        group_id: group,
        generation_id: generation,
        member_id,
        assignments: assignments
            .iter()
            .map(|(member_id, assignment)| g::SyncGroupRequestAssignment { member_id, assignment })
            .collect(),
        ..Default::default()
    });
    call(front, &mut conn(), 3, &request, |response| {
        let Response::SyncGroup(r) = response else {
            panic!("{response:?}")
        };
        (r.error_code, r.assignment.to_vec())
    })
}

fn heartbeat(front: &Front, group: &str, generation: i32, member_id: &str) -> i16 {
    let request = Request::Heartbeat(g::HeartbeatRequest {
        group_id: group,
        generation_id: generation,
        member_id,
        ..Default::default()
    });
    call(front, &mut conn(), 3, &request, |response| {
        let Response::Heartbeat(r) = response else {
            panic!("{response:?}")
        };
        r.error_code
    })
}

fn describe(front: &Front, group: &str) -> (i16, String, Vec<(String, Vec<u8>)>) {
    let request = Request::DescribeGroups(g::DescribeGroupsRequest {
        groups: vec![group],
        ..Default::default()
    });
    call(front, &mut conn(), 4, &request, |response| {
        let Response::DescribeGroups(r) = response else {
            panic!("{response:?}")
        };
        let group = &r.groups[0];
        let members = group
            .members
            .iter()
            .map(|m| (m.member_id.to_string(), m.member_assignment.to_vec()))
            .collect();
        (group.error_code, group.group_state.to_string(), members)
    })
}

fn commit(
    front: &Front,
    version: i16,
    group: &str,
    (generation, member_id): (i32, &str),
    topic: &str,
    offset: i64,
    metadata: Option<&str>,
) -> i16 {
    let request = Request::OffsetCommit(o::OffsetCommitRequest {
        group_id: group,
        generation_id_or_member_epoch: generation,
        member_id,
        topics: vec![o::OffsetCommitRequestTopic {
            name: topic,
            partitions: vec![o::OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_metadata: metadata,
                ..Default::default()
            }],
        }],
        ..Default::default()
    });
    call(front, &mut conn(), version, &request, |response| {
        let Response::OffsetCommit(r) = response else {
            panic!("{response:?}")
        };
        r.topics[0].partitions[0].error_code
    })
}

/// (offset, leader epoch, metadata, code) of partitions 0 and 1 of `topic`.
fn fetch_offsets(front: &Front, version: i16, group: &str, topic: &str) -> Vec<(i64, i32, Option<String>, i16)> {
    let request = Request::OffsetFetch(o::OffsetFetchRequest {
        group_id: group,
        topics: Some(vec![o::OffsetFetchRequestTopic {
            name: topic,
            partition_indexes: vec![0, 1],
        }]),
        ..Default::default()
    });
    call(front, &mut conn(), version, &request, |response| {
        let Response::OffsetFetch(r) = response else {
            panic!("{response:?}")
        };
        r.topics[0]
            .partitions
            .iter()
            .map(|p| {
                (
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.map(str::to_string),
                    p.error_code,
                )
            })
            .collect()
    })
}

fn topic(front: &Front, name: &str, records: usize) {
    let config = millrace::TopicConfig {
        partitions: 2,
        ..millrace::TopicConfig::default()
    };
    front.service.create_topic("test", name, config, false).expect("topic");
    for i in 0..records {
        front
            .service
            .store
            .append(name, 0, &[millrace::Record::new(format!("r{i}").into_bytes())])
            .expect("append");
    }
}

const RANGE: (&str, &[u8]) = ("range", b"range-metadata");

#[test]
fn one_member_joins_syncs_commits_and_leaves() {
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    topic(front, "t", 5);
    let joined = join_new(front, "g", &[RANGE, ("roundrobin", b"rr")]);
    assert_eq!(joined.error, 0);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.protocol, "range");
    assert_eq!(
        joined.members,
        vec![(joined.member_id.clone(), b"range-metadata".to_vec())]
    );
    let me = joined.member_id.as_str();
    let generation = joined.generation;
    assert_eq!(
        sync(front, "g", generation, me, &[(me, b"mine")]),
        (0, b"mine".to_vec())
    );
    assert_eq!(heartbeat(front, "g", generation, me), 0);
    assert_eq!(heartbeat(front, "g", generation + 1, me), errors::ILLEGAL_GENERATION);
    assert_eq!(heartbeat(front, "g", generation, "nobody"), errors::UNKNOWN_MEMBER_ID);
    assert_eq!(
        describe(front, "g"),
        (0, "Stable".into(), vec![(me.to_string(), b"mine".to_vec())])
    );

    // Commits: generation and member checked; metadata kept.
    assert_eq!(commit(front, 7, "g", (generation, me), "t", 3, Some("meta")), 0);
    assert_eq!(
        commit(front, 7, "g", (generation + 1, me), "t", 3, None),
        errors::ILLEGAL_GENERATION
    );
    assert_eq!(commit(front, 7, "g", (-1, ""), "t", 3, None), errors::UNKNOWN_MEMBER_ID);
    assert_eq!(
        commit(front, 2, "g", (generation, me), "t", 9, None),
        errors::OFFSET_OUT_OF_RANGE
    );
    assert_eq!(
        fetch_offsets(front, 5, "g", "t"),
        vec![(3, -1, Some("meta".into()), 0), (-1, -1, Some(String::new()), 0)]
    );
    let native = front
        .service
        .group_offsets(&conn().session, "g", Some("t"))
        .expect("offsets");
    assert_eq!(native.len(), 1);
    assert_eq!((native[0].1.offset, native[0].1.metadata.as_slice()), (3, &b"meta"[..]));

    // A native reset is refused while the member lives, forced it is not.
    let session = crate::server::service::Session::new(SocketAddr::from(([127, 0, 0, 1], 1)));
    let reset = |force| {
        front.service.reset_offsets(
            &session,
            "g".into(),
            millrace::ResetScope::Topic("t".into()),
            millrace::ResetTarget::Earliest,
            false,
            force,
        )
    };
    assert!(
        matches!(
            reset(false),
            Err(crate::server::service::ServiceError::Engine(
                millrace::Error::GroupActive { .. }
            ))
        ),
        "refused while live"
    );
    assert!(front.service.kafka_groups.is_live("g"));

    let request = Request::LeaveGroup(g::LeaveGroupRequest {
        group_id: "g",
        member_id: me,
        ..Default::default()
    });
    let left = call(front, &mut conn(), 1, &request, |response| {
        let Response::LeaveGroup(r) = response else {
            panic!("{response:?}")
        };
        r.error_code
    });
    assert_eq!(left, 0);
    assert!(!front.service.kafka_groups.is_live("g"));
    assert_eq!(describe(front, "g"), (0, "Empty".into(), vec![]));
    assert_eq!(describe(front, "never"), (0, "Dead".into(), vec![]));
    // With no members, a consumer using assign() commits at generation -1.
    assert_eq!(commit(front, 7, "g", (-1, ""), "t", 4, None), 0);
    assert!(reset(true).is_ok());
}

#[test]
fn a_second_member_makes_the_first_rejoin_and_gets_the_leaders_assignment() {
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    let a = join_new(front, "g", &[RANGE]);
    assert_eq!(sync(front, "g", a.generation, &a.member_id, &[]).0, 0);
    std::thread::scope(|scope| {
        let b = scope.spawn(|| {
            let b = join_new(front, "g", &[RANGE]);
            let assignment = sync(front, "g", b.generation, &b.member_id, &[]);
            (b, assignment)
        });
        // B's join holds until A rejoins: A's heartbeat says so.
        while heartbeat(front, "g", a.generation, &a.member_id) != errors::REBALANCE_IN_PROGRESS {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let again = join_as(front, 5, "g", &a.member_id, &[RANGE]);
        assert_eq!(again.error, 0);
        assert!(again.generation > a.generation);
        assert_eq!(again.leader, a.member_id, "the first joiner stays the leader");
        assert_eq!(again.members.len(), 2);
        let b_id = again
            .members
            .iter()
            .map(|(id, _)| id.clone())
            .find(|id| *id != a.member_id)
            .expect("b");
        assert_eq!(
            sync(front, "g", again.generation, &a.member_id, &[(&b_id, b"for-b")]),
            (0, Vec::new()),
            "a member the leader left out gets empty bytes"
        );
        let (b, b_assignment) = b.join().expect("b");
        assert_eq!(
            (b.error, b.generation, b.leader.as_str()),
            (0, again.generation, a.member_id.as_str())
        );
        assert!(b.members.is_empty(), "only the leader gets the members");
        assert_eq!(b_assignment, (0, b"for-b".to_vec()));
    });
}

#[test]
fn a_member_that_stops_heartbeating_is_evicted_and_the_others_rebalance() {
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    let a = join_new(front, "g", &[RANGE]);
    assert_eq!(sync(front, "g", a.generation, &a.member_id, &[]).0, 0);
    let (b, generation) = std::thread::scope(|scope| {
        let b = scope.spawn(|| join_new(front, "g", &[RANGE]));
        while heartbeat(front, "g", a.generation, &a.member_id) != errors::REBALANCE_IN_PROGRESS {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let again = join_as(front, 5, "g", &a.member_id, &[RANGE]);
        assert_eq!(sync(front, "g", again.generation, &a.member_id, &[]).0, 0);
        (b.join().expect("b"), again.generation)
    });
    assert_eq!(b.generation, generation);
    // B never heartbeats again: after its session timeout (1 s) A is told to
    // rejoin, and rejoining alone completes a generation of one.
    let mut code = heartbeat(front, "g", generation, &a.member_id);
    while code == 0 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        code = heartbeat(front, "g", generation, &a.member_id);
    }
    assert_eq!(code, errors::REBALANCE_IN_PROGRESS);
    let alone = join_as(front, 5, "g", &a.member_id, &[RANGE]);
    assert_eq!((alone.error, alone.members.len()), (0, 1));
    assert_eq!(
        heartbeat(front, "g", b.generation, &b.member_id),
        errors::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn refusals_carry_the_codes_clients_act_on() {
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    topic(front, "t", 1);
    let long = "g".repeat(256);
    assert_eq!(join_as(front, 5, &long, "", &[RANGE]).error, errors::INVALID_GROUP_ID);
    assert_eq!(
        commit(front, 7, &long, (-1, ""), "t", 0, None),
        errors::INVALID_GROUP_ID
    );
    // A group-level error: in each partition at v1, at the top (no topics) at v2+.
    assert_eq!(fetch_offsets(front, 1, &long, "t")[0].3, errors::INVALID_GROUP_ID);
    let request = Request::OffsetFetch(o::OffsetFetchRequest {
        group_id: &long,
        topics: Some(vec![o::OffsetFetchRequestTopic {
            name: "t",
            partition_indexes: vec![0],
        }]),
        ..Default::default()
    });
    call(front, &mut conn(), 5, &request, |response| {
        let Response::OffsetFetch(r) = response else {
            panic!("{response:?}")
        };
        assert_eq!((r.error_code, r.topics.len()), (errors::INVALID_GROUP_ID, 0));
    });
    assert_eq!(
        commit(front, 7, "g", (-1, ""), "t", 0, Some(&"m".repeat(4097))),
        errors::OFFSET_METADATA_TOO_LARGE
    );
    assert_eq!(
        commit(front, 7, "g", (-1, ""), "missing", 0, None),
        errors::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(fetch_offsets(front, 1, "g", "t")[0], (-1, -1, Some(String::new()), 0));
    // v3 and below: no member id required; an unknown member id is refused.
    assert_eq!(
        join_as(front, 3, "g", "ghost", &[RANGE]).error,
        errors::UNKNOWN_MEMBER_ID
    );
    let a = join_as(front, 3, "g", "", &[RANGE]);
    assert_eq!(a.error, 0);
    assert_eq!(
        join_as(front, 3, "g", "", &[("roundrobin", b"")]).error,
        errors::INCONSISTENT_GROUP_PROTOCOL
    );
    let request = Request::JoinGroup(g::JoinGroupRequest {
        group_id: "g",
        session_timeout_ms: 6000,
        member_id: "",
        group_instance_id: Some("static-1"),
        protocol_type: "consumer",
        protocols: vec![g::JoinGroupRequestProtocol {
            name: "range",
            metadata: b"",
        }],
        ..Default::default()
    });
    let code = call(front, &mut conn(), 5, &request, |response| {
        let Response::JoinGroup(r) = response else {
            panic!("{response:?}")
        };
        r.error_code
    });
    assert_eq!(code, errors::UNSUPPORTED_VERSION, "static membership is refused");
    let request = Request::ListGroups(g::ListGroupsRequest::default());
    let listed = call(front, &mut conn(), 2, &request, |response| {
        let Response::ListGroups(r) = response else {
            panic!("{response:?}")
        };
        r.groups
            .iter()
            .map(|g| (g.group_id.to_string(), g.protocol_type.to_string()))
            .collect::<Vec<_>>()
    });
    assert_eq!(listed, vec![("g".to_string(), "consumer".to_string())]);
}

#[test]
fn a_native_reset_is_refused_while_a_kafka_member_lives_and_accepted_after_it_leaves() {
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    topic(front, "t", 3);
    // The group never committed: only its live member makes it active.
    let member = join_new(front, "quiet", &[RANGE]);
    assert_eq!(sync(front, "quiet", member.generation, &member.member_id, &[]).0, 0);
    let session = crate::server::service::Session::new(SocketAddr::from(([127, 0, 0, 1], 1)));
    let reset = |dry_run, force| {
        front.service.reset_offsets(
            &session,
            "quiet".into(),
            millrace::ResetScope::Topic("t".into()),
            millrace::ResetTarget::Latest,
            dry_run,
            force,
        )
    };
    let refused = reset(false, false);
    assert!(
        matches!(
            refused,
            Err(crate::server::service::ServiceError::Engine(
                millrace::Error::GroupActive { .. }
            ))
        ),
        "{refused:?}"
    );
    let deleted = front.service.delete_group(&session, "quiet", false);
    assert!(
        matches!(
            deleted,
            Err(crate::server::service::ServiceError::Engine(
                millrace::Error::GroupActive { .. }
            ))
        ),
        "{deleted:?}"
    );
    assert!(reset(true, false).is_ok(), "a dry run plans anyway");
    let request = Request::LeaveGroup(g::LeaveGroupRequest {
        group_id: "quiet",
        members: vec![g::MemberIdentity {
            member_id: &member.member_id,
            group_instance_id: None,
            reason: None,
        }],
        ..Default::default()
    });
    let codes = call(front, &mut conn(), 3, &request, |response| {
        let Response::LeaveGroup(r) = response else {
            panic!("{response:?}")
        };
        r.members.iter().map(|m| m.error_code).collect::<Vec<_>>()
    });
    assert_eq!(codes, vec![0]);
    let plan = reset(false, false).expect("accepted once the member left");
    assert!(plan.applied);
    assert_eq!(
        front
            .service
            .group_offsets(&conn().session, "quiet", None)
            .expect("offsets")[0]
            .1
            .offset,
        3
    );
}

/// A token's `groups` patterns bound what DescribeGroups and ListGroups
/// show (`Session::may_describe_group`, the native front's rule): a group
/// outside them is GROUP_AUTHORIZATION_FAILED with nothing of it, and is
/// left out of the listing; an anonymous connection sees both.
#[test]
fn describe_and_list_groups_show_only_what_the_tokens_patterns_cover() {
    use crate::auth::{Permission, Permissions, Principal};
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    topic(front, "t", 1);
    assert_eq!(commit(front, 7, "app-1", (-1, ""), "t", 1, None), 0);
    assert_eq!(commit(front, 7, "payroll", (-1, ""), "t", 1, None), 0);
    let mut reader = conn();
    reader.session.principal = Principal::named(
        "reader",
        Permissions::of(&[Permission::Consume]),
        &["app-*".to_string()],
    );
    let request = Request::DescribeGroups(g::DescribeGroupsRequest {
        groups: vec!["app-1", "payroll"],
        ..Default::default()
    });
    let described = call(front, &mut reader, 4, &request, |response| {
        let Response::DescribeGroups(r) = response else {
            panic!("{response:?}")
        };
        r.groups
            .iter()
            .map(|g| (g.group_id.to_string(), g.error_code, g.group_state.to_string()))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        described,
        vec![
            ("app-1".to_string(), 0, "Empty".to_string()),
            ("payroll".to_string(), errors::GROUP_AUTHORIZATION_FAILED, String::new()),
        ]
    );
    let list = |conn: &mut Conn| {
        let request = Request::ListGroups(g::ListGroupsRequest::default());
        call(front, conn, 2, &request, |response| {
            let Response::ListGroups(r) = response else {
                panic!("{response:?}")
            };
            r.groups.iter().map(|g| g.group_id.to_string()).collect::<Vec<_>>()
        })
    };
    assert_eq!(list(&mut reader), vec!["app-1".to_string()]);
    assert_eq!(list(&mut conn()), vec!["app-1".to_string(), "payroll".to_string()]);
}

/// OffsetFetch of a group the token may not describe (the rule of
/// DescribeGroups, `Session::may_describe_group`): GROUP_AUTHORIZATION_FAILED
/// in each requested partition at v1, as the top-level error with no topics
/// at v2+ (Kafka's `OffsetFetchRequest::getErrorResponse`); the token's own
/// group and an anonymous connection read their offsets.
#[test]
fn offset_fetch_of_a_group_the_token_may_not_describe_is_refused() {
    use crate::auth::{Permission, Permissions, Principal};
    let fixture = fixture(KafkaConfig::default());
    let front = &fixture.front;
    topic(front, "t", 2);
    assert_eq!(commit(front, 7, "app-1", (-1, ""), "t", 1, None), 0);
    assert_eq!(commit(front, 7, "payroll", (-1, ""), "t", 2, None), 0);
    let mut reader = conn();
    reader.session.principal = Principal::named(
        "reader",
        Permissions::of(&[Permission::Consume]),
        &["app-*".to_string()],
    );
    let fetch = |conn: &mut Conn, version: i16, group: &str| {
        let request = Request::OffsetFetch(o::OffsetFetchRequest {
            group_id: group,
            topics: Some(vec![o::OffsetFetchRequestTopic {
                name: "t",
                partition_indexes: vec![0],
            }]),
            ..Default::default()
        });
        call(front, conn, version, &request, |response| {
            let Response::OffsetFetch(r) = response else {
                panic!("{response:?}")
            };
            let partitions: Vec<(i64, i16)> = r
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (p.committed_offset, p.error_code)))
                .collect();
            (r.error_code, partitions)
        })
    };
    let refused = errors::GROUP_AUTHORIZATION_FAILED;
    for version in 1..=5 {
        let (top, partitions) = fetch(&mut reader, version, "payroll");
        if version == 1 {
            assert_eq!(partitions, vec![(-1, refused)], "v{version}");
        } else {
            assert_eq!((top, partitions), (refused, vec![]), "v{version}");
        }
        assert_eq!(fetch(&mut reader, version, "app-1").1, vec![(1, 0)], "v{version}");
        assert_eq!(fetch(&mut conn(), version, "payroll").1, vec![(2, 0)], "v{version}");
    }
}
