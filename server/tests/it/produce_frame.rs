//! The native front's `Produce` keeps its frame body and appends its records
//! borrowed from it (`ProduceFrame`, `WireRecord`): the engine batch they
//! make is byte for byte the one the owned records make (keys, headers,
//! timestamps, null values and null header values), the owned request reads
//! back from it unchanged, and a malformed body is refused with the owned
//! decoder's error. Through a server, nulls crossing the wire:
//! `cli null_values::nulls_cross_the_native_wire_both_ways`.

use millrace::Record;
use millrace_server::frame::{Frame, FrameHeader, FRAME_HEADER_BYTES};
use millrace_server::messages::{
    decode_incoming, decode_request, encode_request, Incoming, Opcode, Produce, ProducerStamp, Request,
};

fn records() -> Vec<Record> {
    vec![
        Record::new(b"plain".to_vec()),
        Record::new(vec![0x5a; 1024])
            .with_key(b"k1".to_vec())
            .with_header("a", b"x".to_vec())
            .with_header("a", Vec::new())
            .with_timestamp(1_700_000_000_123),
        Record::tombstone().with_key(b"gone".to_vec()),
        Record::new(Vec::new())
            .with_null_header("n")
            .with_header("é", b"v".to_vec()),
        Record::new(b"last".to_vec()).with_key(Vec::new()).with_timestamp(-5),
    ]
}

fn frame_of(request: &Request) -> Frame {
    let bytes = encode_request(7, request);
    Frame {
        header: FrameHeader::request(request.opcode().code(), 7),
        body: bytes[FRAME_HEADER_BYTES..].to_vec(),
    }
}

fn produce(records: Vec<Record>, producer: Option<ProducerStamp>) -> Produce {
    Produce {
        topic: "orders".into(),
        partition: 3,
        producer,
        records,
    }
}

#[test]
fn borrowed_records_make_the_engine_batch_of_the_owned_ones() {
    let stamp = ProducerStamp {
        producer_id: 9,
        epoch: 2,
        base_sequence: 40,
    };
    for producer in [None, Some(stamp)] {
        let owned = produce(records(), producer);
        let Ok(Incoming::Produce(frame)) = decode_incoming(frame_of(&Request::Produce(owned.clone()))) else {
            panic!("a Produce decodes as its frame");
        };
        assert_eq!(
            (frame.topic.as_str(), frame.partition, frame.producer),
            ("orders", 3, producer)
        );
        let borrowed = frame.records().unwrap();
        assert_eq!(borrowed.len(), owned.records.len());
        let time = millrace::batch::AppendTime {
            ms: 5,
            overrides: false,
        };
        let engine_stamp = producer.map(|p| millrace::ProducerStamp {
            producer_id: p.producer_id,
            epoch: p.epoch,
            base_sequence: p.base_sequence,
        });
        let (mut from_owned, mut from_borrowed) = (Vec::new(), Vec::new());
        millrace::batch::encode_at(&mut from_owned, 11, &owned.records, time, engine_stamp, 0, 0);
        millrace::batch::encode_at(&mut from_borrowed, 11, &borrowed, time, engine_stamp, 0, 0);
        assert_eq!(from_borrowed, from_owned);
        let header = millrace::batch::verify(&from_borrowed).unwrap();
        assert_eq!(header.version, millrace::batch::BATCH_VERSION_NULLS);
        // Each view reads as the owned record it was encoded from.
        let again: Vec<Record> = borrowed.iter().map(millrace::AppendRecord::to_record).collect();
        assert_eq!(again, owned.records);
        assert_eq!(frame.into_produce().unwrap(), owned);
    }
}

#[test]
fn other_opcodes_decode_as_requests() {
    let ping = decode_incoming(frame_of(&Request::Ping)).unwrap();
    assert_eq!(ping, Incoming::Request(Request::Ping));
    assert_eq!(ping.opcode(), Opcode::Ping);
}

/// Every cut of a produce body, and a header name that is not UTF-8, is
/// refused with the error the owned decoder gives.
#[test]
fn a_malformed_body_fails_as_the_owned_decoder_fails() {
    let request = Request::Produce(produce(records(), None));
    let whole = frame_of(&request);
    for cut in 0..whole.body.len() {
        let frame = Frame {
            header: whole.header,
            body: whole.body[..cut].to_vec(),
        };
        let owned = decode_request(&frame).unwrap_err();
        assert_eq!(decode_incoming(frame).unwrap_err(), owned, "cut at {cut}");
    }
    let mut frame = whole.clone();
    frame.body.push(0);
    assert_eq!(
        decode_incoming(frame.clone()).unwrap_err(),
        decode_request(&frame).unwrap_err()
    );
    // The header name "é" of record 3 made invalid UTF-8.
    let at = whole.body.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    let mut frame = whole.clone();
    frame.body[at] = 0xff;
    let owned = decode_request(&frame).unwrap_err();
    assert_eq!(decode_incoming(frame).unwrap_err(), owned);
    // A record count larger than the bytes can hold.
    let mut frame = whole;
    let count_at = 4 + "orders".len() + 4 + 1;
    frame.body[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let owned = decode_request(&frame).unwrap_err();
    assert_eq!(decode_incoming(frame).unwrap_err(), owned);
}
