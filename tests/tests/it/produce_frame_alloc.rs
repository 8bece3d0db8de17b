//! The native front's `Produce` appends its records borrowed from the frame
//! body (`ProduceFrame`): decoding a request of 1,000 × 1 KiB records keeps
//! the body it is given and allocates the topic and the list of views, not
//! a copy of any value; the owned decoder copies every value. Measured with
//! `millrace_tests::alloc_track`.

use millrace::Record;
use millrace_server::frame::{Frame, FrameHeader, FRAME_HEADER_BYTES};
use millrace_server::messages::{
    decode_incoming, decode_request, encode_request, Incoming, Produce, Request, WireRecord,
};
use millrace_tests::alloc_track::measure;

#[test]
fn a_produce_frame_appends_without_copying_a_value() {
    let value = vec![7u8; 1024];
    let request = Request::Produce(Produce {
        topic: "orders".into(),
        partition: 0,
        producer: None,
        records: (0..1000)
            .map(|_| Record::new(value.clone()).with_header("h", b"v".to_vec()))
            .collect(),
    });
    let bytes = encode_request(1, &request);
    let frame = Frame {
        header: FrameHeader::request(request.opcode().code(), 1),
        body: bytes[FRAME_HEADER_BYTES..].to_vec(),
    };
    let (owned, owned_stats) = measure(|| decode_request(&frame).map(|_| ()));
    let (count, borrowed_stats) = measure(|| {
        let Ok(Incoming::Produce(produce)) = decode_incoming(frame.clone()) else {
            return 0;
        };
        produce.records().map_or(0, |records| records.len())
    });
    assert_eq!((owned, count), (Ok(()), 1000));
    // The clone of the body (the frame the reader hands over), the topic and
    // the list of views, nothing more.
    let list = 1000 * std::mem::size_of::<WireRecord<'_>>();
    let bound = frame.body.len() + list + 64;
    assert!(borrowed_stats.peak_bytes <= bound, "{borrowed_stats:?}, bound {bound}");
    assert!(owned_stats.peak_bytes >= 1000 * value.len(), "{owned_stats:?}");
}
