//! Every opcode × permission × resource, against the real server: a token
//! gets `PermissionDenied` exactly when the one table the server uses
//! (`millrace_server::auth::PERMISSIONS`, which a unit test compares with
//! the opcode table of design/protocol.md) or the resource rule refuses it.
//! Resources: its own producer or another token's; a group its `groups`
//! pattern names, another group, an internal group (to commit to, and to
//! see the state, members, committed offsets and lag of); an ordinary topic or
//! the admin-only reset audit topic. Any other answer (an engine error such
//! as `UnknownProducer` included) counts as "not denied".

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::start_server;
use millrace::Record;
use millrace_server::auth::{required, Permission, Permissions, ADMIN_ONLY_TOPICS, PERMISSIONS};
use millrace_server::config::ServerConfig;
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::*;
use millrace_server::{Client, ClientError, ClientOptions};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    None,
    OwnProducer,
    OtherProducer,
    Group(&'static str),
    Topic(&'static str),
}

const OWN_GROUP: &str = "app-1";
const OTHER_GROUP: &str = "other";
const INTERNAL_GROUP: &str = "__redrive.orders";

/// The tokens of the matrix (name, secret, permissions); each may commit to `app-*`.
const TOKENS: &[(&str, &str, &[Permission])] = &[
    ("none", "none-token-0123456789", &[]),
    ("produce", "produce-token-0123456789", &[Permission::Produce]),
    ("consume", "consume-token-0123456789", &[Permission::Consume]),
    (
        "both",
        "both-token-0123456789",
        &[Permission::Produce, Permission::Consume],
    ),
    ("admin", "admin-token-0123456789", &[Permission::Admin]),
];
/// Owns the "other" producer; not part of the matrix.
const OWNER: (&str, &str) = ("owner", "owner-token-0123456789");
const OTHER_PRODUCER: &str = "owners-producer";

fn config_text() -> String {
    let mut text = String::new();
    for (name, token, permissions) in TOKENS
        .iter()
        .copied()
        .chain([(OWNER.0, OWNER.1, &[Permission::Produce][..])])
    {
        let permissions: Vec<String> = permissions
            .iter()
            .map(|p| format!("\"{}\"", format!("{p:?}").to_lowercase()))
            .collect();
        text.push_str(&format!(
            "[[tokens]]\nname = \"{name}\"\ntoken = \"{token}\"\npermissions = [{}]\ngroups = [\"app-*\"]\n",
            permissions.join(", ")
        ));
    }
    text
}

async fn connect(addr: std::net::SocketAddr, token: &str) -> Client {
    let options = ClientOptions {
        token: Some(token.as_bytes().to_vec()),
        connect_attempts_max: 1,
        ..ClientOptions::default()
    };
    Client::connect(addr, options).await.unwrap()
}

async fn init(client: &Client, name: &str) -> Option<(u64, u16)> {
    match client
        .call(Request::InitProducer(InitProducer { name: name.into() }))
        .await
    {
        Ok(Response::ProducerInit(init)) => Some((init.producer_id, init.epoch)),
        _ => None,
    }
}

fn offsets() -> Vec<PartitionOffset> {
    vec![PartitionOffset {
        topic: "orders".into(),
        partition: 0,
        offset: 0,
        metadata: Vec::new(),
    }]
}

/// Requests for `opcode`, one per resource it touches.
fn samples(opcode: Opcode, token: &str, own: (u64, u16), other: (u64, u16)) -> Vec<(Resource, Request)> {
    let producers = [(Resource::OwnProducer, own), (Resource::OtherProducer, other)];
    let groups = [OWN_GROUP, OTHER_GROUP, INTERNAL_GROUP];
    let fail = |(producer_id, epoch): (u64, u16), group: &str| {
        Request::FailRecord(FailRecord {
            producer_id,
            epoch,
            group: group.into(),
            topic: "orders".into(),
            partition: 0,
            offset: 0,
            stage: "s".into(),
            error_class: "e".into(),
            error_message: "m".into(),
            max_attempts: 5,
        })
    };
    let one = |request| vec![(Resource::None, request)];
    // One request per group, each touching that group.
    let per_group = |make: &dyn Fn(&'static str) -> Request| -> Vec<(Resource, Request)> {
        groups.iter().map(|g| (Resource::Group(g), make(g))).collect()
    };
    match opcode {
        Opcode::Hello => one(Request::Hello(Hello {
            version_min: PROTOCOL_VERSION_MIN,
            version_max: PROTOCOL_VERSION_MAX,
            client_name: "again".into(),
            token: None,
        })),
        Opcode::Ping => one(Request::Ping),
        Opcode::CreateTopic => one(Request::CreateTopic(CreateTopic {
            name: "created".into(),
            partitions: 1,
            config: vec![],
        })),
        Opcode::DeleteTopic => one(Request::DeleteTopic(TopicName { name: "absent".into() })),
        Opcode::AlterTopic => one(Request::AlterTopic(AlterTopic {
            name: "orders".into(),
            config: vec![],
            dry_run: true,
        })),
        // A group's state and members: only for groups the token's patterns cover.
        Opcode::DescribeGroups => per_group(&|g| Request::DescribeGroups(DescribeGroups { groups: vec![g.into()] })),
        Opcode::DescribeGroupMembers => {
            per_group(&|g| Request::DescribeGroupMembers(DescribeGroupMembers { groups: vec![g.into()] }))
        }
        Opcode::Status => one(Request::Status),
        Opcode::ListTopics => one(Request::ListTopics),
        Opcode::ListTopicsPage => one(Request::ListTopicsPage(NamesPage::default())),
        Opcode::DescribeTopic => one(Request::DescribeTopic(TopicName { name: "orders".into() })),
        Opcode::DescribeDamage => one(Request::DescribeDamage(DescribeDamage { topic: None })),
        Opcode::InitProducer => vec![
            (
                Resource::OwnProducer,
                Request::InitProducer(InitProducer {
                    name: format!("{token}-producer"),
                }),
            ),
            (
                Resource::OtherProducer,
                Request::InitProducer(InitProducer {
                    name: OTHER_PRODUCER.into(),
                }),
            ),
        ],
        Opcode::Produce => producers
            .iter()
            .map(|(resource, (producer_id, epoch))| {
                let request = Request::Produce(Produce {
                    topic: "orders".into(),
                    partition: 0,
                    producer: Some(ProducerStamp {
                        producer_id: *producer_id,
                        epoch: *epoch,
                        base_sequence: 1_000,
                    }),
                    records: vec![Record::new(b"x".to_vec())],
                });
                (resource.clone(), request)
            })
            .collect(),
        Opcode::Fetch => ["orders", ADMIN_ONLY_TOPICS[0]]
            .into_iter()
            .map(|topic| {
                let request = Request::Fetch(Fetch {
                    topic: topic.into(),
                    partition: 0,
                    position: Position::Offset(0),
                    max_bytes: 4096,
                    max_records: 1,
                    isolation: Isolation::ReadCommitted,
                    max_wait_ms: 0,
                });
                (Resource::Topic(topic), request)
            })
            .collect(),
        Opcode::CommitOffsets => per_group(&|g| {
            Request::CommitOffsets(CommitOffsets {
                group: g.into(),
                offsets: offsets(),
            })
        }),
        // A group's offsets and lag: only for groups the token may describe.
        Opcode::FetchOffsets => per_group(&|g| {
            Request::FetchOffsets(GroupQuery {
                group: g.into(),
                topic: None,
            })
        }),
        Opcode::ResetOffsets => one(Request::ResetOffsets(ResetOffsets {
            group: OTHER_GROUP.into(),
            topic: None,
            partitions: vec![],
            target: ResetTarget::Earliest,
            dry_run: true,
            force: false,
        })),
        Opcode::Lag => per_group(&|g| {
            Request::Lag(GroupQuery {
                group: g.into(),
                topic: Some("orders".into()),
            })
        }),
        Opcode::FailRecord => {
            let mut out: Vec<(Resource, Request)> = producers
                .iter()
                .map(|(r, p)| (r.clone(), fail(*p, OWN_GROUP)))
                .collect();
            out.extend(groups.iter().map(|g| (Resource::Group(g), fail(own, g))));
            out
        }
        Opcode::ResetAudit => one(Request::ResetAudit(ResetAudit { group: None })),
        Opcode::ListGroups => one(Request::ListGroups),
        Opcode::ListGroupsPage => one(Request::ListGroupsPage(NamesPage::default())),
        Opcode::FetchOffsetsPage => per_group(&|g| {
            Request::FetchOffsetsPage(OffsetsPage {
                group: g.into(),
                topic: None,
                after: None,
                limit: 0,
            })
        }),
        Opcode::ResetAuditPage => one(Request::ResetAuditPage(ResetAuditPage::default())),
        Opcode::ConfigHistoryPage => one(Request::ConfigHistoryPage(
            millrace_server::messages::ConfigHistoryPage::default(),
        )),
        Opcode::LagPage => per_group(&|g| {
            Request::LagPage(LagPage {
                group: g.into(),
                topic: None,
                after: None,
                limit: 0,
            })
        }),
        Opcode::DeleteGroup => per_group(&|g| {
            Request::DeleteGroup(DeleteGroup {
                group: g.into(),
                force: false,
            })
        }),
        Opcode::DeleteGroupOffsets => per_group(&|g| {
            Request::DeleteGroupOffsets(DeleteGroupOffsets {
                group: g.into(),
                topic: "orders".into(),
                force: false,
            })
        }),
        Opcode::TxnBegin => producers
            .iter()
            .map(|(resource, (producer_id, epoch))| {
                let request = Request::TxnBegin(TxnBegin {
                    producer_id: *producer_id,
                    epoch: *epoch,
                });
                (resource.clone(), request)
            })
            .collect(),
        Opcode::TxnAppend => one(Request::TxnAppend(TxnAppend {
            transaction_id: 99,
            topic: "orders".into(),
            partition: 0,
            records: vec![Record::new(b"x".to_vec())],
        })),
        Opcode::TxnCommitOffsets => per_group(&|g| {
            Request::TxnCommitOffsets(TxnCommitOffsets {
                transaction_id: 99,
                group: g.into(),
                offsets: offsets(),
            })
        }),
        Opcode::TxnDeadLetter => per_group(&|g| {
            Request::TxnDeadLetter(TxnDeadLetter {
                transaction_id: 99,
                group: g.into(),
                source_topic: "orders".into(),
                source_partition: 0,
                source_offset: 0,
                stage: "s".into(),
                error_class: "e".into(),
                error_message: "m".into(),
                attempts: 1,
                record: Record::new(b"x".to_vec()),
            })
        }),
        Opcode::TxnCommit => one(Request::TxnCommit(TxnEnd { transaction_id: 99 })),
        Opcode::TxnAbort => one(Request::TxnAbort(TxnEnd { transaction_id: 99 })),
        Opcode::DlqList => one(Request::DlqList(DlqList {
            topic: "orders".into(),
            from_offset: 0,
            max_records: 0,
            error_contains: None,
            source_partition: None,
            since_ms: None,
            until_ms: None,
        })),
        Opcode::DlqRedrive => one(Request::DlqRedrive(DlqRedrive {
            topic: "orders".into(),
            target_topic: None,
            max_records: None,
            rate_per_second: 0,
            redrive_cap: 0,
            dry_run: true,
            from_offset: None,
        })),
        Opcode::DlqPurge => one(Request::DlqPurge(DlqPurge {
            topic: "orders".into(),
            up_to_offset: 0,
        })),
        Opcode::Stats => one(Request::Stats),
        Opcode::Flush => one(Request::Flush),
        Opcode::ContractQuery => one(Request::ContractQuery(ContractCall {
            command: ContractCommand::History { topic: None },
        })),
        // Removing the contract of a topic without one changes nothing.
        Opcode::ContractChange => one(Request::ContractChange(ContractCall {
            command: ContractCommand::Remove {
                topic: "orders".into(),
                actor: token.into(),
            },
        })),
    }
}

/// What the server must do: `Some(denied)`, or `None` where this rule does
/// not decide (an internal group with the opcode's permission: the store's
/// own rule refuses every token, `InternalName`).
fn expected(permissions: Permissions, opcode: Opcode, resource: &Resource) -> Option<bool> {
    let admin = permissions.is_admin();
    let resource_allowed = match resource {
        Resource::None | Resource::OwnProducer => true,
        Resource::OtherProducer => admin,
        Resource::Group(group) if group.starts_with("__") => {
            if permissions.contains(required(opcode)) {
                return None;
            }
            false
        }
        Resource::Group(group) => admin || group.starts_with("app-"),
        Resource::Topic(topic) => admin || !ADMIN_ONLY_TOPICS.contains(topic),
    };
    Some(!(permissions.contains(required(opcode)) && resource_allowed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opcode_permission_resource_matrix() {
    let tokens = ServerConfig::from_toml_str(&config_text(), Path::new("tokens.toml"))
        .unwrap()
        .tokens;
    let server = start_server(|c| c.tokens = tokens).await;
    let admin = connect(server.addr(), "admin-token-0123456789").await;
    admin.create_topic("orders", 1, &[]).await.unwrap();
    admin
        .produce("orders", 0, vec![Record::new(b"r".to_vec())])
        .await
        .unwrap();
    let other = init(&connect(server.addr(), OWNER.1).await, OTHER_PRODUCER)
        .await
        .unwrap();

    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut covered: BTreeMap<u16, usize> = BTreeMap::new();
    for (name, token, permissions) in TOKENS {
        let permissions = Permissions::of(permissions);
        let client = connect(server.addr(), token).await;
        // Its own producer (a token without produce has none: the opcode is refused anyway).
        let own = init(&client, &format!("{name}-producer")).await.unwrap_or(other);
        for (opcode, _) in PERMISSIONS {
            for (resource, request) in samples(*opcode, name, own, other) {
                assert_eq!(request.opcode(), *opcode);
                let Some(expect_denied) = expected(permissions, *opcode, &resource) else {
                    continue;
                };
                let result = client.call(request).await;
                let denied = matches!(&result, Err(ClientError::Server(e)) if e.code == ErrorCode::PermissionDenied);
                if denied != expect_denied {
                    mismatches.push(format!(
                        "{name} {opcode:?} {resource:?}: expected denied={expect_denied}, got {result:?}"
                    ));
                }
                checked += 1;
                *covered.entry(opcode.code()).or_default() += 1;
                // Denials and errors never close the connection.
                client.ping().await.unwrap();
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(covered.len(), Opcode::ALL.len(), "every opcode was exercised");
    assert!(checked > 150, "{checked}");
    server.handle.shutdown().await.unwrap();
}

/// The group listings (`ListGroups`, `ListGroupsPage`) leave out the groups
/// a token may not describe, however long a run of them: 3,000 groups
/// `g0000`..`g2999`, of which the reader's patterns (`g000*`, `g1500`,
/// `g2999`) cover 12, with runs of about 1,500 hidden groups between them
/// (longer than the server reads at a time while skipping). Walked one
/// group per page and whole, the reader lists exactly its 12 and every
/// cursor is one of them; the admin lists all 3,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_listings_leave_out_the_groups_a_token_may_not_describe() {
    let config = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n\n\
                  [[tokens]]\nname = \"reader\"\ntoken = \"reader-token-0123456789\"\npermissions = [\"consume\"]\n\
                  groups = [\"g000*\", \"g1500\", \"g2999\"]\n";
    let tokens = ServerConfig::from_toml_str(config, Path::new("tokens.toml"))
        .unwrap()
        .tokens;
    let server = start_server(|c| c.tokens = tokens).await;
    let admin = connect(server.addr(), "admin-token-0123456789").await;
    admin.create_topic("t", 1, &[]).await.unwrap();
    let all: Vec<String> = (0..3_000).map(|i| format!("g{i:04}")).collect();
    for chunk in all.chunks(500) {
        let mut tasks = Vec::new();
        for group in chunk {
            let admin = admin.clone();
            let group = group.clone();
            tasks.push(tokio::spawn(async move {
                admin.commit_offsets(&group, &[("t", 0, 0)]).await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
    let mut visible: Vec<String> = (0..10).map(|i| format!("g000{i}")).collect();
    visible.extend(["g1500".to_string(), "g2999".to_string()]);

    let reader = connect(server.addr(), "reader-token-0123456789").await;
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reader.list_groups_page(after.as_deref(), 1).await.unwrap();
        listed.extend(page.names.iter().cloned());
        match page.next_after {
            Some(next) => {
                assert!(visible.contains(&next), "cursor {next} names a hidden group");
                after = Some(next);
            }
            None => break,
        }
        assert!(listed.len() <= visible.len(), "{listed:?}");
    }
    assert_eq!(listed, visible);
    assert_eq!(reader.list_groups().await.unwrap(), visible);
    match reader.call(Request::ListGroups).await.unwrap() {
        Response::Groups(groups) => assert_eq!(groups, visible),
        other => panic!("{other:?}"),
    }
    // The default page holds all 12; admin walks all 3,000.
    assert_eq!(reader.list_groups_page(None, 0).await.unwrap().names, visible);
    assert_eq!(admin.list_groups().await.unwrap(), all);
    server.handle.shutdown().await.unwrap();
}
