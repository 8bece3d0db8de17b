//! Codec tests: the worked example of `design/protocol.md` byte for byte,
//! proptest round trips of every request and response, and arbitrary bytes
//! through every decoder (must return, never panic).

use super::*;
use crate::frame::{FrameDecoder, FRAME_BYTES_MAX_DEFAULT};
use millrace::{Nulls, Record, StoredRecord};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect()
}

fn single_frame(bytes: &[u8]) -> Frame {
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    decoder.feed(bytes);
    let frame = decoder.next_frame().expect("frame").expect("complete");
    assert_eq!(decoder.buffered_bytes(), 0);
    frame
}

#[test]
fn worked_example_matches_protocol_md() {
    let hello = Request::Hello(Hello {
        version_min: 1,
        version_max: 1,
        client_name: "cli".into(),
        token: None,
    });
    let expected = hex("18 00 00 00  01 00  00 00  01 00 00 00  4d 4c 52 43  01 00  01 00  03 00 00 00 63 6c 69  00");
    assert_eq!(encode_request(1, &hello), expected);
    assert_eq!(decode_request(&single_frame(&expected)).unwrap(), hello);

    let produce = Request::Produce(Produce {
        topic: "events".into(),
        partition: 0,
        producer: None,
        records: vec![Record::new(b"hi".to_vec()).with_key(b"k".to_vec())],
    });
    let expected = hex(
        "2c 00 00 00  21 00  00 00  02 00 00 00  06 00 00 00 65 76 65 6e 74 73  00 00 00 00  00  01 00 00 00
         00  01 01 00 00 00 6b  02 00 00 00 68 69  00 00 00 00",
    );
    assert_eq!(encode_request(2, &produce), expected);
    assert_eq!(decode_request(&single_frame(&expected)).unwrap(), produce);

    let produced = Ok(Response::Produced(Produced {
        base_offset: 0,
        next_offset: 1,
        duplicate: false,
    }));
    let expected =
        hex("1b 00 00 00  21 00  01 00  02 00 00 00  00 00  00 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00  00");
    assert_eq!(encode_response(0x21, 2, &produced), expected);
    assert_eq!(decode_response(&single_frame(&expected)).unwrap(), produced);
}

/// A null value and a null header value travel as the length 0xFFFFFFFF
/// (protocol.md `nullable_bytes`); an empty one as length 0. A decoder that
/// reads the field as plain `bytes` (a peer of the earlier layout) refuses
/// the null as running past the frame: it never reads it as empty.
#[test]
fn a_null_value_is_the_null_length_on_the_wire() {
    let tombstone = Record::tombstone().with_null_header("n").with_header("e", Vec::new());
    let mut w = crate::wire::Writer::new();
    tombstone.encode(&mut w);
    let bytes = w.into_inner();
    // timestamp tag 0, key tag 0, value null, 2 headers: "n" null, "e" empty.
    let mut expected = vec![0u8, 0];
    expected.extend_from_slice(&u32::MAX.to_le_bytes());
    expected.extend_from_slice(&2u32.to_le_bytes());
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.push(b'n');
    expected.extend_from_slice(&u32::MAX.to_le_bytes());
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.push(b'e');
    expected.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(bytes, expected);
    let mut r = crate::wire::Reader::new(&bytes);
    assert_eq!(Record::decode(&mut r).unwrap(), tombstone);
    r.finish().unwrap();
    // The earlier layout's decoder: option, option, bytes.
    let mut old = crate::wire::Reader::new(&bytes);
    old.u8("timestamp").unwrap();
    old.u8("key").unwrap();
    assert!(matches!(
        old.bytes("record.value"),
        Err(crate::wire::DecodeError::Truncated { .. })
    ));
}

#[test]
fn error_response_roundtrip() {
    let error = Err(WireError::new(ErrorCode::TopicNotFound, "topic \"x\" does not exist"));
    let frame = single_frame(&encode_response(0x21, 9, &error));
    assert_eq!(decode_response(&frame).unwrap(), error);
    let error = Err(WireError::new(ErrorCode::FrameTooLarge, "too large").with_details(vec![u64::from(u32::MAX), 16]));
    let frame = single_frame(&encode_response(0, 0, &error));
    assert_eq!(decode_response(&frame).unwrap(), error);
}

#[test]
fn unknown_opcode_and_flags_are_refused() {
    let frame = Frame {
        header: FrameHeader::request(0x7777, 1),
        body: Vec::new(),
    };
    assert_eq!(
        decode_request(&frame),
        Err(DecodeError::UnknownOpcode { opcode: 0x7777 })
    );
    let frame = Frame {
        header: FrameHeader {
            opcode: Opcode::Ping.code(),
            flags: 0x8000,
            request_id: 1,
        },
        body: Vec::new(),
    };
    assert!(matches!(decode_request(&frame), Err(DecodeError::BadFlags { .. })));
    // Trailing bytes after an empty body.
    let frame = Frame {
        header: FrameHeader::request(Opcode::Ping.code(), 1),
        body: vec![0],
    };
    assert_eq!(decode_request(&frame), Err(DecodeError::TrailingBytes { remaining: 1 }));
}

#[test]
fn every_truncation_of_a_request_is_an_error() {
    let request = Request::TxnDeadLetter(TxnDeadLetter {
        transaction_id: 1,
        group: "g".into(),
        source_topic: "in".into(),
        source_partition: 2,
        source_offset: 3,
        stage: "transform".into(),
        error_class: "parse".into(),
        error_message: "bad json".into(),
        attempts: 2,
        record: Record::new(b"v".to_vec())
            .with_header("h", b"x".to_vec())
            .with_timestamp(5),
    });
    let bytes = encode_request(4, &request);
    let frame = single_frame(&bytes);
    for cut in 0..frame.body.len() {
        let truncated = Frame {
            header: frame.header,
            body: frame.body[..cut].to_vec(),
        };
        assert!(decode_request(&truncated).is_err(), "cut at {cut} decoded");
    }
}

// ---- proptest strategies ----

fn arb_string() -> impl Strategy<Value = String> {
    "[a-z0-9.é-]{0,12}"
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn arb_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    vec((arb_string(), arb_bytes()), 0..3)
}

/// A record's value, headers and their nulls.
type ValueHeadersNulls = (Vec<u8>, Vec<(String, Vec<u8>)>, Nulls);

/// Null value and null header values (protocol.md `nullable_bytes`): a null
/// is empty in `value`/`headers` and marked in `Nulls`.
fn with_nulls(
    mut value: Vec<u8>,
    mut headers: Vec<(String, Vec<u8>)>,
    value_null: bool,
    header_mask: u32,
) -> ValueHeadersNulls {
    if value_null {
        value.clear();
    }
    let mut null_headers = Vec::new();
    for (i, (_, v)) in headers.iter_mut().enumerate() {
        if i < 32 && header_mask & (1 << i) != 0 {
            v.clear();
            null_headers.push(i as u16);
        }
    }
    let nulls = Nulls {
        value: value_null,
        headers: null_headers,
    };
    (value, headers, nulls)
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        option::of(any::<i64>()),
        option::of(arb_bytes()),
        arb_bytes(),
        arb_headers(),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(|(timestamp_ms, key, value, headers, value_null, mask)| {
            let (value, headers, nulls) = with_nulls(value, headers, value_null, mask);
            Record {
                key,
                value,
                headers,
                timestamp_ms,
                nulls,
            }
        })
}

fn arb_stored_record() -> impl Strategy<Value = StoredRecord> {
    (
        any::<u64>(),
        any::<i64>(),
        option::of(arb_bytes()),
        arb_bytes(),
        arb_headers(),
        (any::<bool>(), any::<u32>()),
    )
        .prop_map(|(offset, timestamp_ms, key, value, headers, (value_null, mask))| {
            let (value, headers, nulls) = with_nulls(value, headers, value_null, mask);
            StoredRecord {
                offset,
                timestamp_ms,
                key,
                value,
                headers,
                nulls,
            }
        })
}

fn arb_partition_offset() -> impl Strategy<Value = PartitionOffset> {
    (arb_string(), any::<u32>(), any::<u64>(), arb_bytes()).prop_map(|(topic, partition, offset, metadata)| {
        PartitionOffset {
            topic,
            partition,
            offset,
            metadata,
        }
    })
}

fn arb_config() -> impl Strategy<Value = Vec<ConfigEntry>> {
    vec(
        (arb_string(), arb_string()).prop_map(|(key, value)| ConfigEntry { key, value }),
        0..3,
    )
}

fn arb_position() -> impl Strategy<Value = Position> {
    prop_oneof![
        any::<u64>().prop_map(Position::Offset),
        any::<i64>().prop_map(Position::Time)
    ]
}

fn arb_isolation() -> impl Strategy<Value = Isolation> {
    prop_oneof![Just(Isolation::ReadCommitted), Just(Isolation::ReadUncommitted)]
}

fn arb_reset_target() -> impl Strategy<Value = ResetTarget> {
    prop_oneof![
        Just(ResetTarget::Earliest),
        Just(ResetTarget::Latest),
        any::<u64>().prop_map(ResetTarget::ToOffset),
        any::<i64>().prop_map(ResetTarget::ShiftBy),
        any::<i64>().prop_map(ResetTarget::ToTime),
        any::<u64>().prop_map(ResetTarget::ByDuration),
    ]
}

fn arb_stamp() -> impl Strategy<Value = ProducerStamp> {
    (any::<u64>(), any::<u16>(), any::<u32>()).prop_map(|(producer_id, epoch, base_sequence)| ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    })
}

#[expect(clippy::too_many_lines, reason = "one case per request kind")]
fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), arb_string(), option::of(arb_bytes())).prop_map(
            |(version_min, version_max, client_name, token)| Request::Hello(Hello {
                version_min,
                version_max,
                client_name,
                token
            })
        ),
        Just(Request::Ping),
        Just(Request::ListTopics),
        Just(Request::ListGroups),
        (option::of(arb_string()), any::<u32>())
            .prop_map(|(after, limit)| Request::ListTopicsPage(NamesPage { after, limit })),
        (option::of(arb_string()), any::<u32>())
            .prop_map(|(after, limit)| Request::ListGroupsPage(NamesPage { after, limit })),
        (
            arb_string(),
            option::of(arb_string()),
            option::of((arb_string(), any::<u32>())),
            any::<u32>()
        )
            .prop_map(|(group, topic, after, limit)| Request::FetchOffsetsPage(OffsetsPage {
                group,
                topic,
                after: after.map(|(topic, partition)| PartitionKey { topic, partition }),
                limit
            })),
        (arb_string(), any::<bool>()).prop_map(|(group, force)| Request::DeleteGroup(DeleteGroup { group, force })),
        (arb_string(), arb_string(), any::<bool>()).prop_map(|(group, topic, force)| {
            Request::DeleteGroupOffsets(DeleteGroupOffsets { group, topic, force })
        }),
        option::of(arb_string()).prop_map(|group| Request::ResetAudit(ResetAudit { group })),
        (option::of(arb_string()), option::of(any::<u64>()), any::<u32>())
            .prop_map(|(group, after, limit)| Request::ResetAuditPage(ResetAuditPage { group, after, limit })),
        (
            arb_string(),
            option::of(arb_string()),
            option::of((arb_string(), any::<u32>())),
            any::<u32>()
        )
            .prop_map(|(group, topic, after, limit)| Request::LagPage(LagPage {
                group,
                topic,
                after: after.map(|(topic, partition)| PartitionKey { topic, partition }),
                limit
            })),
        Just(Request::Stats),
        Just(Request::Flush),
        Just(Request::Status),
        (arb_string(), option::of(any::<u32>()), any::<bool>()).prop_map(|(topic, version, change)| {
            let call = |command| ContractCall { command };
            if change {
                Request::ContractChange(call(ContractCommand::Remove {
                    actor: topic.clone(),
                    topic,
                }))
            } else {
                Request::ContractQuery(call(ContractCommand::SchemaShow {
                    subject: Some(topic),
                    version: version.map(SchemaVersion::Number),
                    id: version,
                }))
            }
        }),
        vec(arb_string(), 0..3).prop_map(|groups| Request::DescribeGroups(DescribeGroups { groups })),
        vec(arb_string(), 0..3).prop_map(|groups| Request::DescribeGroupMembers(DescribeGroupMembers { groups })),
        (arb_string(), arb_config(), any::<bool>())
            .prop_map(|(name, config, dry_run)| { Request::AlterTopic(AlterTopic { name, config, dry_run }) }),
        option::of(arb_string()).prop_map(|topic| Request::DescribeDamage(DescribeDamage { topic })),
        (arb_string(), any::<u32>(), arb_config()).prop_map(|(name, partitions, config)| {
            Request::CreateTopic(CreateTopic {
                name,
                partitions,
                config,
            })
        }),
        arb_string().prop_map(|name| Request::DeleteTopic(TopicName { name })),
        arb_string().prop_map(|name| Request::DescribeTopic(TopicName { name })),
        arb_string().prop_map(|name| Request::InitProducer(InitProducer { name })),
        (
            arb_string(),
            any::<u32>(),
            option::of(arb_stamp()),
            vec(arb_record(), 0..4)
        )
            .prop_map(|(topic, partition, producer, records)| Request::Produce(Produce {
                topic,
                partition,
                producer,
                records
            })),
        (
            arb_string(),
            any::<u32>(),
            arb_position(),
            any::<u32>(),
            any::<u32>(),
            arb_isolation(),
            any::<u32>()
        )
            .prop_map(
                |(topic, partition, position, max_bytes, max_records, isolation, max_wait_ms)| {
                    Request::Fetch(Fetch {
                        topic,
                        partition,
                        position,
                        max_bytes,
                        max_records,
                        isolation,
                        max_wait_ms,
                    })
                }
            ),
        (arb_string(), vec(arb_partition_offset(), 0..3))
            .prop_map(|(group, offsets)| Request::CommitOffsets(CommitOffsets { group, offsets })),
        (arb_string(), option::of(arb_string()))
            .prop_map(|(group, topic)| Request::FetchOffsets(GroupQuery { group, topic })),
        (arb_string(), option::of(arb_string())).prop_map(|(group, topic)| Request::Lag(GroupQuery { group, topic })),
        (
            arb_string(),
            option::of(arb_string()),
            vec(any::<u32>(), 0..3),
            arb_reset_target(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(group, topic, partitions, target, dry_run, force)| {
                Request::ResetOffsets(ResetOffsets {
                    group,
                    topic,
                    partitions,
                    target,
                    dry_run,
                    force,
                })
            }),
        (
            (any::<u64>(), any::<u16>(), arb_string(), arb_string()),
            (any::<u32>(), any::<u64>(), any::<u32>()),
            (arb_string(), arb_string(), arb_string())
        )
            .prop_map(
                |(
                    (producer_id, epoch, group, topic),
                    (partition, offset, max_attempts),
                    (stage, error_class, error_message),
                )| {
                    Request::FailRecord(FailRecord {
                        producer_id,
                        epoch,
                        group,
                        topic,
                        partition,
                        offset,
                        stage,
                        error_class,
                        error_message,
                        max_attempts,
                    })
                }
            ),
        (any::<u64>(), any::<u16>())
            .prop_map(|(producer_id, epoch)| Request::TxnBegin(TxnBegin { producer_id, epoch })),
        (any::<u64>(), arb_string(), any::<u32>(), vec(arb_record(), 0..3)).prop_map(
            |(transaction_id, topic, partition, records)| Request::TxnAppend(TxnAppend {
                transaction_id,
                topic,
                partition,
                records
            })
        ),
        (any::<u64>(), arb_string(), vec(arb_partition_offset(), 0..3)).prop_map(|(transaction_id, group, offsets)| {
            Request::TxnCommitOffsets(TxnCommitOffsets {
                transaction_id,
                group,
                offsets,
            })
        }),
        (
            any::<u64>(),
            (arb_string(), arb_string(), any::<u32>(), any::<u64>()),
            (arb_string(), arb_string(), arb_string(), any::<u32>()),
            arb_record()
        )
            .prop_map(
                |(
                    transaction_id,
                    (group, source_topic, source_partition, source_offset),
                    (stage, error_class, error_message, attempts),
                    record,
                )| {
                    Request::TxnDeadLetter(TxnDeadLetter {
                        transaction_id,
                        group,
                        source_topic,
                        source_partition,
                        source_offset,
                        stage,
                        error_class,
                        error_message,
                        attempts,
                        record,
                    })
                }
            ),
        any::<u64>().prop_map(|transaction_id| Request::TxnCommit(TxnEnd { transaction_id })),
        any::<u64>().prop_map(|transaction_id| Request::TxnAbort(TxnEnd { transaction_id })),
        (
            arb_string(),
            any::<u64>(),
            any::<u32>(),
            option::of(arb_string()),
            option::of(any::<u32>()),
            option::of(any::<i64>()),
            option::of(any::<i64>())
        )
            .prop_map(
                |(topic, from_offset, max_records, error_contains, source_partition, since_ms, until_ms)| {
                    Request::DlqList(DlqList {
                        topic,
                        from_offset,
                        max_records,
                        error_contains,
                        source_partition,
                        since_ms,
                        until_ms,
                    })
                }
            ),
        (
            arb_string(),
            option::of(arb_string()),
            option::of(any::<u64>()),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            option::of(any::<u64>())
        )
            .prop_map(
                |(topic, target_topic, max_records, rate_per_second, redrive_cap, dry_run, from_offset)| {
                    Request::DlqRedrive(DlqRedrive {
                        topic,
                        target_topic,
                        max_records,
                        rate_per_second,
                        redrive_cap,
                        dry_run,
                        from_offset,
                    })
                }
            ),
        (arb_string(), any::<u64>())
            .prop_map(|(topic, up_to_offset)| Request::DlqPurge(DlqPurge { topic, up_to_offset })),
    ]
}

fn arb_audit_entry() -> impl Strategy<Value = ResetAuditEntry> {
    (
        (any::<i64>(), arb_string(), arb_string(), arb_string()),
        (arb_string(), any::<u32>(), option::of(any::<u64>()), any::<u64>()),
    )
        .prop_map(
            |((at_ms, actor, group, target), (topic, partition, from, to))| ResetAuditEntry {
                at_ms,
                actor,
                group,
                target,
                topic,
                partition,
                from,
                to,
            },
        )
}

fn arb_partition_lag() -> impl Strategy<Value = PartitionLag> {
    (
        arb_string(),
        any::<u32>(),
        option::of(any::<u64>()),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(topic, partition, committed, log_start_offset, high_watermark, lag)| PartitionLag {
                topic,
                partition,
                committed,
                log_start_offset,
                high_watermark,
                lag,
            },
        )
}

/// A response valid for `opcode`.
#[expect(clippy::too_many_lines, reason = "one case per response kind")]
fn arb_response_for(opcode: Opcode) -> BoxedStrategy<Response> {
    match opcode {
        Opcode::Hello => (any::<u16>(), arb_string(), any::<u32>(), any::<u32>())
            .prop_map(|(version, server_name, frame_bytes_max, in_flight_max)| {
                Response::Hello(HelloResponse {
                    version,
                    server_name,
                    frame_bytes_max,
                    in_flight_max,
                })
            })
            .boxed(),
        Opcode::Ping
        | Opcode::CreateTopic
        | Opcode::DeleteTopic
        | Opcode::CommitOffsets
        | Opcode::TxnAppend
        | Opcode::TxnCommitOffsets
        | Opcode::TxnDeadLetter
        | Opcode::TxnAbort
        | Opcode::Flush => Just(Response::Empty).boxed(),
        Opcode::ListTopics => vec(arb_string(), 0..4).prop_map(Response::Topics).boxed(),
        Opcode::ListGroups => vec(arb_string(), 0..4).prop_map(Response::Groups).boxed(),
        Opcode::ListTopicsPage | Opcode::ListGroupsPage => (vec(arb_string(), 0..4), option::of(arb_string()))
            .prop_map(|(names, next_after)| Response::NamesPage(NamesPaged { names, next_after }))
            .boxed(),
        Opcode::DescribeDamage => (vec(arb_damage_entry(), 0..4), any::<bool>())
            .prop_map(|(entries, truncated)| Response::Damage(DamageReport { entries, truncated }))
            .boxed(),
        Opcode::FetchOffsetsPage => (
            vec(arb_committed_offset(), 0..3),
            option::of((arb_string(), any::<u32>())),
        )
            .prop_map(|(offsets, next_after)| {
                Response::OffsetsPage(OffsetsPaged {
                    offsets,
                    next_after: next_after.map(|(topic, partition)| PartitionKey { topic, partition }),
                })
            })
            .boxed(),
        Opcode::DeleteGroup | Opcode::DeleteGroupOffsets => {
            vec(arb_committed_offset(), 0..3).prop_map(Response::Offsets).boxed()
        }
        Opcode::ResetAuditPage => (vec(arb_audit_entry(), 0..3), option::of(any::<u64>()))
            .prop_map(|(entries, next_after)| Response::ResetAuditPage(ResetAuditPaged { entries, next_after }))
            .boxed(),
        Opcode::LagPage => (vec(arb_partition_lag(), 0..3), option::of((arb_string(), any::<u32>())))
            .prop_map(|(lags, next_after)| {
                Response::LagPage(LagPaged {
                    lags,
                    next_after: next_after.map(|(topic, partition)| PartitionKey { topic, partition }),
                })
            })
            .boxed(),
        Opcode::ResetAudit => vec(
            (
                (any::<i64>(), arb_string(), arb_string(), arb_string()),
                (arb_string(), any::<u32>(), option::of(any::<u64>()), any::<u64>()),
            )
                .prop_map(|((at_ms, actor, group, target), (topic, partition, from, to))| {
                    ResetAuditEntry {
                        at_ms,
                        actor,
                        group,
                        target,
                        topic,
                        partition,
                        from,
                        to,
                    }
                }),
            0..3,
        )
        .prop_map(Response::ResetAudit)
        .boxed(),
        Opcode::DescribeTopic => (
            arb_string(),
            vec(
                (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
                    |(partition, start_offset, end_offset, bytes)| PartitionInfo {
                        partition,
                        start_offset,
                        end_offset,
                        bytes,
                    },
                ),
                0..3,
            ),
            arb_config(),
        )
            .prop_map(|(name, partitions, config)| {
                Response::TopicDescription(TopicDescription {
                    name,
                    partitions,
                    config,
                })
            })
            .boxed(),
        Opcode::InitProducer => (
            any::<u64>(),
            any::<u16>(),
            vec(
                (arb_string(), any::<u32>(), any::<u32>()).prop_map(|(topic, partition, next_sequence)| {
                    ProducerSequence {
                        topic,
                        partition,
                        next_sequence,
                    }
                }),
                0..3,
            ),
        )
            .prop_map(|(producer_id, epoch, sequences)| {
                Response::ProducerInit(ProducerInit {
                    producer_id,
                    epoch,
                    sequences,
                })
            })
            .boxed(),
        Opcode::Produce => (any::<u64>(), any::<u64>(), any::<bool>())
            .prop_map(|(base_offset, next_offset, duplicate)| {
                Response::Produced(Produced {
                    base_offset,
                    next_offset,
                    duplicate,
                })
            })
            .boxed(),
        Opcode::Fetch => (any::<u64>(), any::<u64>(), any::<u64>(), vec(arb_stored_record(), 0..4))
            .prop_map(|(next_offset, high_watermark, last_stable_offset, records)| {
                Response::Fetched(Fetched {
                    next_offset,
                    high_watermark,
                    last_stable_offset,
                    records,
                })
            })
            .boxed(),
        Opcode::FetchOffsets => vec(
            (arb_string(), any::<u32>(), any::<u64>(), arb_bytes(), any::<i64>()).prop_map(
                |(topic, partition, offset, metadata, commit_time_ms)| CommittedOffset {
                    topic,
                    partition,
                    offset,
                    metadata,
                    commit_time_ms,
                },
            ),
            0..3,
        )
        .prop_map(Response::Offsets)
        .boxed(),
        Opcode::ResetOffsets => (
            any::<bool>(),
            vec(
                (
                    (arb_string(), any::<u32>(), option::of(any::<u64>())),
                    (any::<u64>(), any::<u64>(), any::<u64>()),
                    vec(arb_reset_warning(), 0..3),
                )
                    .prop_map(
                        |((topic, partition, current), (new_offset, log_start_offset, high_watermark), warnings)| {
                            ResetPlanEntry {
                                topic,
                                partition,
                                current,
                                new_offset,
                                log_start_offset,
                                high_watermark,
                                warnings,
                            }
                        },
                    ),
                0..3,
            ),
        )
            .prop_map(|(applied, entries)| Response::ResetPlan(ResetPlan { applied, entries }))
            .boxed(),
        Opcode::Lag => vec(
            (
                arb_string(),
                any::<u32>(),
                option::of(any::<u64>()),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
            )
                .prop_map(|(topic, partition, committed, log_start_offset, high_watermark, lag)| {
                    PartitionLag {
                        topic,
                        partition,
                        committed,
                        log_start_offset,
                        high_watermark,
                        lag,
                    }
                }),
            0..3,
        )
        .prop_map(Response::Lag)
        .boxed(),
        Opcode::FailRecord => (any::<bool>(), any::<u64>(), any::<u32>(), any::<i64>(), any::<i64>())
            .prop_map(
                |(dead_lettered, dlq_offset, attempts, first_failure_ms, last_failure_ms)| {
                    Response::RecordFailed(RecordFailed {
                        dead_lettered,
                        dlq_offset,
                        attempts,
                        first_failure_ms,
                        last_failure_ms,
                    })
                },
            )
            .boxed(),
        Opcode::TxnBegin => any::<u64>()
            .prop_map(|transaction_id| Response::TxnBegun(TxnBegun { transaction_id }))
            .boxed(),
        Opcode::TxnCommit => (
            any::<u32>(),
            vec(
                (arb_string(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
                    |(topic, partition, base_offset, next_offset)| CommittedPart {
                        topic,
                        partition,
                        base_offset,
                        next_offset,
                    },
                ),
                0..3,
            ),
        )
            .prop_map(|(transaction_sequence, parts)| {
                Response::TxnCommitted(TxnCommitted {
                    transaction_sequence,
                    parts,
                })
            })
            .boxed(),
        Opcode::DlqList => (
            (any::<u64>(), any::<u64>(), any::<u64>(), option::of(any::<i64>())),
            vec(arb_dlq_entry(), 0..3),
        )
            .prop_map(|((depth, start_offset, end_offset, oldest_age_ms), entries)| {
                Response::DlqListing(DlqListing {
                    depth,
                    start_offset,
                    end_offset,
                    oldest_age_ms,
                    entries,
                })
            })
            .boxed(),
        Opcode::DlqRedrive => (
            any::<u64>(),
            any::<u64>(),
            vec(
                (any::<u64>(), arb_string(), any::<u32>()).prop_map(|(dlq_offset, topic, partition)| RedrivenRecord {
                    dlq_offset,
                    topic,
                    partition,
                }),
                0..3,
            ),
            vec(any::<u64>(), 0..3),
            vec(
                (any::<u64>(), arb_string()).prop_map(|(dlq_offset, reason)| RefusedRecord { dlq_offset, reason }),
                0..3,
            ),
        )
            .prop_map(|(resumed_from, next_offset, redriven, capped, refused)| {
                Response::Redrive(RedriveReport {
                    resumed_from,
                    next_offset,
                    redriven,
                    capped,
                    refused,
                })
            })
            .boxed(),
        Opcode::DlqPurge => any::<u64>().prop_map(Response::Purged).boxed(),
        Opcode::Stats => vec(
            (arb_string(), any::<u64>()).prop_map(|(name, value)| Stat { name, value }),
            0..4,
        )
        .prop_map(Response::Stats)
        .boxed(),
        Opcode::AlterTopic => (arb_config(), arb_config())
            .prop_map(|(before, after)| Response::TopicAltered(TopicAltered { before, after }))
            .boxed(),
        Opcode::ConfigHistoryPage => {
            let key = (arb_string(), option::of(arb_string()), option::of(arb_string()))
                .prop_map(|(key, old, new)| ConfigKeyChange { key, old, new });
            let entry = (any::<i64>(), arb_string(), arb_string(), arb_string(), vec(key, 0..3)).prop_map(
                |(at_ms, actor, topic, kind, keys)| ConfigHistoryEntry {
                    at_ms,
                    actor,
                    topic,
                    kind,
                    keys,
                },
            );
            (vec(entry, 0..3), option::of(any::<u64>()))
                .prop_map(|(entries, next_after)| {
                    Response::ConfigHistoryPage(ConfigHistoryPaged { entries, next_after })
                })
                .boxed()
        }
        Opcode::Status => arb_config().prop_map(Response::Status).boxed(),
        Opcode::ContractQuery | Opcode::ContractChange => arb_string().prop_map(Response::ContractAnswer).boxed(),
        Opcode::DescribeGroups => vec(
            (arb_string(), any::<bool>(), any::<bool>(), option::of(any::<u64>())).prop_map(
                |(group, active, kafka_members, idle_ms)| GroupState {
                    group,
                    active,
                    kafka_members,
                    idle_ms,
                },
            ),
            0..3,
        )
        .prop_map(Response::GroupStates)
        .boxed(),
        Opcode::DescribeGroupMembers => vec(
            (
                arb_string(),
                any::<u32>(),
                vec(
                    (arb_string(), arb_string(), arb_string()).prop_map(|(member_id, client_id, client_host)| {
                        KafkaMember {
                            member_id,
                            client_id,
                            client_host,
                        }
                    }),
                    0..3,
                ),
            )
                .prop_map(|(group, members_total, members)| GroupMembers {
                    group,
                    members_total,
                    members,
                }),
            0..3,
        )
        .prop_map(Response::GroupMembers)
        .boxed(),
    }
}

fn arb_reset_warning() -> impl Strategy<Value = ResetWarning> {
    prop_oneof![
        any::<i64>().prop_map(|requested| ResetWarning::BelowLogStart { requested }),
        any::<i64>().prop_map(|requested| ResetWarning::AboveHighWatermark { requested }),
        Just(ResetWarning::NoCommittedOffset),
        any::<i64>().prop_map(|timestamp_ms| ResetWarning::NoRecordAtOrAfter { timestamp_ms }),
    ]
}

fn arb_dlq_entry() -> impl Strategy<Value = DlqEntry> {
    (
        (any::<u64>(), arb_string(), any::<u32>(), any::<u64>()),
        (arb_string(), arb_string(), arb_string(), arb_string()),
        (any::<u32>(), any::<i64>(), any::<i64>(), any::<u32>()),
        arb_record(),
        option::of((arb_string(), any::<u32>(), any::<i64>())),
    )
        .prop_map(
            |(
                (dlq_offset, source_topic, source_partition, source_offset),
                (group, stage, error_class, error_message),
                (attempts, first_failure_ms, last_failure_ms, redrive_count),
                record,
                redriven,
            )| DlqEntry {
                dlq_offset,
                letter: millrace::dlq::DeadLetter {
                    source_topic,
                    source_partition,
                    source_offset,
                    group,
                    stage,
                    error_class,
                    error_message,
                    attempts,
                    first_failure_ms,
                    last_failure_ms,
                    redrive_count,
                    record,
                    contract: None,
                },
                redriven: redriven.map(|(topic, partition, redriven_at_ms)| millrace::dlq::RedriveMark {
                    topic,
                    partition,
                    redriven_at_ms,
                }),
            },
        )
}

fn arb_committed_offset() -> impl Strategy<Value = CommittedOffset> {
    (arb_string(), any::<u32>(), any::<u64>(), arb_bytes(), any::<i64>()).prop_map(
        |(topic, partition, offset, metadata, commit_time_ms)| CommittedOffset {
            topic,
            partition,
            offset,
            metadata,
            commit_time_ms,
        },
    )
}

fn arb_damage_entry() -> impl Strategy<Value = DamageEntry> {
    (arb_string(), option::of(any::<u32>()), any::<u16>(), arb_string()).prop_map(
        |(topic, partition, code, message)| DamageEntry {
            topic,
            partition,
            code,
            message,
        },
    )
}

fn arb_opcode() -> impl Strategy<Value = Opcode> {
    proptest::sample::select(Opcode::ALL)
}

fn arb_wire_error() -> impl Strategy<Value = WireError> {
    (1u16..=u16::MAX, arb_string(), vec(any::<u64>(), 0..4)).prop_map(|(code, message, details)| WireError {
        code: ErrorCode::from_code(code),
        message,
        details,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn request_roundtrip(request in arb_request(), request_id in any::<u32>(), split in 0usize..64) {
        let bytes = encode_request(request_id, &request);
        // Feed in two pieces to exercise the incremental decoder.
        let split = split.min(bytes.len());
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        decoder.feed(&bytes[..split]);
        let early = decoder.next_frame().unwrap();
        prop_assert!(early.is_none() || split == bytes.len());
        decoder.feed(&bytes[split..]);
        let frame = match early {
            Some(frame) => frame,
            None => decoder.next_frame().unwrap().unwrap(),
        };
        prop_assert_eq!(frame.header.request_id, request_id);
        prop_assert_eq!(frame.header.opcode, request.opcode().code());
        prop_assert_eq!(decode_request(&frame).unwrap(), request);
    }

    /// The blocking client's borrowed produce encoding writes the bytes of the owned one.
    #[test]
    fn borrowed_produce_encodes_as_the_owned_request(
        topic in arb_string(),
        partition in any::<u32>(),
        records in vec(arb_record(), 0..4),
        request_id in any::<u32>(),
    ) {
        let mut borrowed = b"before".to_vec();
        encode_produce_into(&mut borrowed, request_id, &topic, partition, &records);
        let mut owned = b"before".to_vec();
        let request = Request::Produce(Produce { topic, partition, producer: None, records });
        encode_request_into(&mut owned, request_id, &request);
        prop_assert_eq!(borrowed, owned);
    }

    #[test]
    fn response_roundtrip(
        (opcode, response) in arb_opcode().prop_flat_map(|op| (Just(op), arb_response_for(op))),
        request_id in any::<u32>(),
    ) {
        let result = Ok(response);
        let frame = single_frame(&encode_response(opcode.code(), request_id, &result));
        prop_assert_eq!(decode_response(&frame).unwrap(), result);
    }

    /// The size a `DescribeDamage` answer budgets per entry is its encoding's.
    #[test]
    fn damage_entry_size_is_exact(entry in arb_damage_entry()) {
        let mut w = Writer::new();
        entry.encode(&mut w);
        prop_assert_eq!(w.into_inner().len(), entry.encoded_bytes());
    }

    #[test]
    fn error_roundtrip(opcode in any::<u16>(), error in arb_wire_error()) {
        let result = Err(error);
        let frame = single_frame(&encode_response(opcode, 1, &result));
        prop_assert_eq!(decode_response(&frame).unwrap(), result);
    }

    #[test]
    fn arbitrary_bodies_never_panic(opcode in arb_opcode(), body in vec(any::<u8>(), 0..256)) {
        let request = Frame { header: FrameHeader::request(opcode.code(), 1), body: body.clone() };
        let _ = decode_request(&request);
        let response = Frame { header: FrameHeader::response(opcode.code(), 1), body };
        let _ = decode_response(&response);
    }

    #[test]
    fn arbitrary_streams_never_panic(stream in vec(any::<u8>(), 0..512)) {
        let mut decoder = FrameDecoder::new(4096);
        decoder.feed(&stream);
        for _ in 0..stream.len() {
            match decoder.next_frame() {
                Ok(Some(frame)) => { let _ = decode_request(&frame); }
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Mutating one byte of a valid request either still decodes or fails cleanly.
    #[test]
    fn mutated_requests_never_panic(request in arb_request(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = encode_request(1, &request);
        let at = at % bytes.len();
        bytes[at] = byte;
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
        decoder.feed(&bytes);
        if let Ok(Some(frame)) = decoder.next_frame() {
            let _ = decode_request(&frame);
        }
    }
}

fn arb_fetched() -> impl Strategy<Value = Fetched> {
    (any::<u64>(), any::<u64>(), any::<u64>(), vec(arb_stored_record(), 0..6)).prop_map(
        |(next_offset, high_watermark, last_stable_offset, records)| Fetched {
            next_offset,
            high_watermark,
            last_stable_offset,
            records,
        },
    )
}

/// What `decode_response` makes of a `Fetch` response frame, in the view's terms.
fn owned_reading(frame: &Frame) -> Result<Result<Fetched, WireError>, ()> {
    match decode_response(frame) {
        Ok(Ok(Response::Fetched(fetched))) => Ok(Ok(fetched)),
        Ok(Ok(_)) => Err(()),
        Ok(Err(error)) => Ok(Err(error)),
        Err(_) => Err(()),
    }
}

fn view_reading(frame: Frame) -> Result<Result<Fetched, WireError>, ()> {
    match decode_fetch_response_view(frame) {
        Ok(Ok(view)) => {
            // Every access path agrees with the owned copy.
            let owned = view.to_fetched();
            assert_eq!(view.len(), owned.records.len());
            for (i, record) in view.iter().enumerate() {
                let stored = &owned.records[i];
                assert_eq!(record.offset, stored.offset);
                assert_eq!(record.value, stored.value.as_slice());
                assert_eq!(record.key, stored.key.as_deref());
                assert_eq!(record.headers().len(), stored.headers.len());
                assert_eq!(view.get(i).map(|r| r.to_stored()).as_ref(), Some(stored));
            }
            assert!(view.get(view.len()).is_none());
            Ok(Ok(owned))
        }
        Ok(Err(error)) => Ok(Err(error)),
        Err(_) => Err(()),
    }
}

#[test]
fn fetched_view_reads_keys_values_and_headers_in_place() {
    let fetched = Fetched {
        next_offset: 12,
        high_watermark: 20,
        last_stable_offset: 19,
        records: vec![
            StoredRecord {
                offset: 10,
                timestamp_ms: -5,
                key: Some(b"k".to_vec()),
                value: b"first".to_vec(),
                headers: vec![("trace".into(), b"t1".to_vec()), ("".into(), Vec::new())],
                nulls: Nulls::default(),
            },
            StoredRecord {
                offset: 11,
                timestamp_ms: 1_700_000_000_000,
                key: None,
                value: Vec::new(),
                headers: Vec::new(),
                nulls: Nulls::default(),
            },
            StoredRecord {
                offset: 12,
                timestamp_ms: 3,
                key: Some(b"gone".to_vec()),
                value: Vec::new(),
                headers: vec![("n".into(), Vec::new()), ("e".into(), Vec::new())],
                nulls: Nulls {
                    value: true,
                    headers: vec![0],
                },
            },
        ],
    };
    let frame = single_frame(&encode_response(
        Opcode::Fetch.code(),
        3,
        &Ok(Response::Fetched(fetched.clone())),
    ));
    let view = decode_fetch_response_view(frame).unwrap().unwrap();
    assert_eq!(
        (view.next_offset, view.high_watermark, view.last_stable_offset),
        (12, 20, 19)
    );
    let records: Vec<_> = view.iter().collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].key, Some(&b"k"[..]));
    assert_eq!(records[0].value, b"first");
    assert_eq!(records[0].timestamp_ms, -5);
    assert_eq!(
        records[0].headers().collect::<Vec<_>>(),
        vec![("trace", &b"t1"[..]), ("", &b""[..])]
    );
    assert_eq!(records[1].key, None);
    assert!(records[1].value.is_empty());
    assert_eq!(records[1].headers().count(), 0);
    // An empty value and header value stay empty; a null stays null.
    assert_eq!(records[1].value_opt(), Some(&b""[..]));
    assert_eq!(records[2].value_opt(), None);
    assert!(records[2].is_null_value());
    assert_eq!(
        records[2].headers_opt().collect::<Vec<_>>(),
        vec![("n", None), ("e", Some(&b""[..]))]
    );
    assert_eq!(view.to_fetched(), fetched);
}

#[test]
fn fetched_view_refuses_what_decode_response_refuses() {
    // A header name that is not UTF-8, a count larger than the frame, a
    // response to another opcode, trailing bytes.
    let fetched = Fetched {
        next_offset: 1,
        high_watermark: 1,
        last_stable_offset: 1,
        records: vec![StoredRecord {
            offset: 0,
            timestamp_ms: 0,
            key: None,
            value: b"v".to_vec(),
            headers: vec![("h".into(), b"x".to_vec())],
            nulls: Nulls::default(),
        }],
    };
    let bytes = encode_response(Opcode::Fetch.code(), 1, &Ok(Response::Fetched(fetched)));
    let name_at = bytes.windows(1).rposition(|w| w == b"h").unwrap();
    let mut bad_name = bytes.clone();
    bad_name[name_at] = 0xff;
    assert!(decode_fetch_response_view(single_frame(&bad_name)).is_err());
    let count_at = bytes.len() - (8 + 8 + 1 + 5 + 4 + 5 + 5) - 4;
    let mut huge_count = bytes.clone();
    huge_count[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_fetch_response_view(single_frame(&huge_count)),
        Err(crate::wire::DecodeError::CountTooLarge { .. })
    ));
    let mut other_opcode = single_frame(&bytes);
    other_opcode.header.opcode = Opcode::Produce.code();
    assert!(decode_fetch_response_view(other_opcode).is_err());
    let mut trailing = single_frame(&bytes);
    trailing.body.push(0);
    assert!(decode_fetch_response_view(trailing).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The view reads exactly what `decode_response` reads, errors included.
    #[test]
    fn fetched_view_roundtrip(fetched in arb_fetched(), request_id in any::<u32>()) {
        let result = Ok(Response::Fetched(fetched.clone()));
        let frame = single_frame(&encode_response(Opcode::Fetch.code(), request_id, &result));
        prop_assert_eq!(view_reading(frame), Ok(Ok(fetched)));
    }

    #[test]
    fn fetched_view_error_roundtrip(error in arb_wire_error()) {
        let result = Err(error.clone());
        let frame = single_frame(&encode_response(Opcode::Fetch.code(), 1, &result));
        prop_assert_eq!(view_reading(frame), Ok(Err(error)));
    }

    /// Any one-byte change or truncation of a valid response: the view and the
    /// owned decoder accept and refuse the same frames, with the same reading.
    #[test]
    fn mutated_fetch_responses_agree(
        fetched in arb_fetched(),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in option::of(any::<usize>()),
    ) {
        let bytes = encode_response(Opcode::Fetch.code(), 1, &Ok(Response::Fetched(fetched)));
        let mut frame = single_frame(&bytes);
        if !frame.body.is_empty() {
            let at = at % frame.body.len();
            frame.body[at] = byte;
            if let Some(cut) = cut {
                let cut = cut % (frame.body.len() + 1);
                frame.body.truncate(cut);
            }
        }
        prop_assert_eq!(view_reading(frame.clone()), owned_reading(&frame));
    }
}
