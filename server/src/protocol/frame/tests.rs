//! The frame codec's unit tests (a sibling file: they outgrew the codec).

use super::*;

#[test]
fn encode_then_decode_byte_by_byte() {
    let a = encode_frame(FrameHeader::request(0x21, 7), b"hello");
    let b = encode_frame(FrameHeader::response(0x21, 7), b"");
    assert_eq!(&a[..4], &(8u32 + 5).to_le_bytes());
    let mut stream = a.clone();
    stream.extend_from_slice(&b);
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    let mut frames = Vec::new();
    for byte in &stream {
        decoder.feed(std::slice::from_ref(byte));
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].header, FrameHeader::request(0x21, 7));
    assert_eq!(frames[0].body, b"hello");
    assert!(frames[1].header.is_response());
    assert!(frames[1].body.is_empty());
    assert_eq!(decoder.buffered_bytes(), 0);
}

#[test]
fn four_gib_prefix_refused_after_four_bytes() {
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    decoder.feed(&[0xff, 0xff, 0xff]);
    assert_eq!(decoder.next_frame(), Ok(None));
    decoder.feed(&[0xff]);
    assert_eq!(
        decoder.next_frame(),
        Err(FrameError::TooLarge {
            length: u32::MAX,
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT
        })
    );
    // Nothing sized by the prefix was allocated.
    assert!(decoder.buf.capacity() < 64);
    // Sticky.
    decoder.feed(&encode_frame(FrameHeader::request(1, 1), b""));
    assert!(decoder.next_frame().is_err());
}

#[test]
fn read_buffer_appends_like_feed() {
    let a = encode_frame(FrameHeader::response(0x30, 1), &[7u8; 5000]);
    let b = encode_frame(FrameHeader::response(0x02, 2), b"");
    let mut stream = a.clone();
    stream.extend_from_slice(&b);
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    let mut frames = Vec::new();
    for chunk in stream.chunks(777) {
        let buffer = decoder.read_buffer(chunk.len());
        assert!(buffer.capacity() - buffer.len() >= chunk.len());
        buffer.extend_from_slice(chunk);
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].body, vec![7u8; 5000]);
    assert_eq!(frames[1].header, FrameHeader::response(0x02, 2));
    assert_eq!(decoder.buffered_bytes(), 0);
}

/// Decode `stream` reading through `read_buffer` in reads of the given
/// sizes (cycled) whatever `wanted` says, then return the frames and the
/// decoder.
fn decode_by_reads(stream: &[u8], direct_min: usize, reads: &[usize]) -> (Vec<Frame>, FrameDecoder) {
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).with_direct_body_min(direct_min);
    let mut frames = Vec::new();
    let mut at = 0;
    for &size in reads.iter().cycle() {
        if at >= stream.len() {
            break;
        }
        let take = size.min(stream.len() - at);
        let buffer = decoder.read_buffer(take);
        buffer.extend_from_slice(&stream[at..at + take]);
        at += take;
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames.push(frame);
        }
    }
    (frames, decoder)
}

#[test]
fn large_body_is_read_into_its_own_buffer() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let a = encode_frame(FrameHeader::response(0x30, 1), &big);
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).with_direct_body_min(1000);
    // The header and a little of the body arrive in the stream buffer...
    decoder.read_buffer(100).extend_from_slice(&a[..100]);
    assert_eq!(decoder.next_frame(), Ok(None));
    // ...then the body buffer takes over, with the whole body reserved.
    let body = decoder.read_buffer(64 * 1024);
    assert_eq!(body.len(), 100 - FRAME_HEADER_BYTES);
    assert_eq!(body.capacity(), big.len());
    let body_ptr = body.as_ptr();
    assert_eq!(decoder.wanted(), a.len() - 100);
    assert_eq!(decoder.buffered_bytes(), 100);
    assert!(decoder.is_mid_frame());
    for chunk in a[100..].chunks(65_536) {
        decoder.read_buffer(chunk.len()).extend_from_slice(chunk);
    }
    assert_eq!(decoder.buffered_bytes(), a.len());
    let frame = decoder.next_frame().unwrap().unwrap();
    assert_eq!(frame.header, FrameHeader::response(0x30, 1));
    assert_eq!(frame.body, big);
    // Returned in the buffer it was read into: no copy.
    assert_eq!(frame.body.as_ptr(), body_ptr);
    assert_eq!(decoder.buffered_bytes(), 0);
    assert!(!decoder.is_mid_frame());
    assert_eq!(decoder.wanted(), FRAME_HEADER_BYTES);
}

#[test]
fn reads_past_a_direct_body_keep_the_next_frames() {
    // Large, small, large, small: reads of odd sizes that end inside
    // headers, straddle frame ends, and ask for more than `wanted`.
    let frames_in = [
        encode_frame(FrameHeader::response(0x30, 1), &[1u8; 5000]),
        encode_frame(FrameHeader::response(0x02, 2), b"ok"),
        encode_frame(FrameHeader::response(0x30, 3), &[3u8; 7000]),
        encode_frame(FrameHeader::response(0x02, 4), b""),
    ];
    let stream: Vec<u8> = frames_in.concat();
    for reads in [
        &[7usize, 4999, 13][..],
        &[1][..],
        &[3000][..],
        &[5013, 14][..],
        &[stream.len()][..],
    ] {
        let (frames, decoder) = decode_by_reads(&stream, 1024, reads);
        let ids: Vec<u32> = frames.iter().map(|f| f.header.request_id).collect();
        assert_eq!(ids, [1, 2, 3, 4], "reads {reads:?}");
        assert_eq!(frames[0].body, vec![1u8; 5000]);
        assert_eq!(frames[1].body, b"ok");
        assert_eq!(frames[2].body, vec![3u8; 7000]);
        assert!(frames[3].body.is_empty());
        assert_eq!(decoder.buffered_bytes(), 0, "reads {reads:?}");
    }
}

#[test]
fn feed_while_a_body_is_direct_splits_at_its_end() {
    let a = encode_frame(FrameHeader::response(0x30, 1), &[9u8; 3000]);
    let b = encode_frame(FrameHeader::response(0x02, 2), b"next");
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).with_direct_body_min(1024);
    decoder.read_buffer(20).extend_from_slice(&a[..20]);
    assert_eq!(decoder.next_frame(), Ok(None));
    decoder.read_buffer(20).extend_from_slice(&a[20..40]);
    // The rest of `a` and all of `b` in one feed.
    let mut rest = a[40..].to_vec();
    rest.extend_from_slice(&b);
    decoder.feed(&rest);
    let first = decoder.next_frame().unwrap().unwrap();
    assert_eq!(first.body, vec![9u8; 3000]);
    let second = decoder.next_frame().unwrap().unwrap();
    assert_eq!(second.header.request_id, 2);
    assert_eq!(second.body, b"next");
    assert_eq!(decoder.next_frame(), Ok(None));
}

#[test]
fn bytes_read_past_a_body_stay_ahead_of_later_feeds() {
    let a = encode_frame(FrameHeader::response(0x30, 1), &[5u8; 2000]);
    let b = encode_frame(FrameHeader::response(0x02, 2), b"bb");
    let c = encode_frame(FrameHeader::response(0x02, 3), b"c");
    let mut stream = a.clone();
    stream.extend_from_slice(&b);
    stream.extend_from_slice(&c);
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).with_direct_body_min(1024);
    decoder.read_buffer(12).extend_from_slice(&stream[..12]);
    assert_eq!(decoder.next_frame(), Ok(None));
    // One read completes `a` and takes the first half of `b` with it;
    // the rest arrives by `feed` before anyone asks for a frame.
    let split = a.len() + b.len() / 2;
    decoder.read_buffer(split - 12).extend_from_slice(&stream[12..split]);
    decoder.feed(&stream[split..]);
    let ids: Vec<u32> = std::iter::from_fn(|| decoder.next_frame().unwrap())
        .map(|f| f.header.request_id)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn large_body_remaining_counts_down_then_ends() {
    let a = encode_frame(FrameHeader::response(0x30, 1), &[2u8; 5000]);
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).with_direct_body_min(1024);
    assert_eq!(decoder.large_body_remaining(), None, "no header yet");
    decoder.read_buffer(100).extend_from_slice(&a[..100]);
    assert_eq!(decoder.large_body_remaining(), Some(a.len() - 100));
    decoder.read_buffer(0).extend_from_slice(&a[100..4000]);
    assert_eq!(decoder.large_body_remaining(), Some(a.len() - 4000));
    decoder.read_buffer(0).extend_from_slice(&a[4000..]);
    assert_eq!(decoder.large_body_remaining(), None, "body complete");
    assert!(decoder.next_frame().unwrap().is_some());
    assert_eq!(decoder.large_body_remaining(), None);
    // A small frame never counts as large.
    let b = encode_frame(FrameHeader::response(0x02, 2), &[0u8; 500]);
    decoder.read_buffer(0).extend_from_slice(&b[..50]);
    assert_eq!(decoder.large_body_remaining(), None);
}

#[test]
fn oversize_prefix_gets_no_direct_body() {
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_LOWEST).with_direct_body_min(16);
    let mut head = (FRAME_BYTES_MAX_LOWEST + 1).to_le_bytes().to_vec();
    head.extend_from_slice(&[0u8; 8]);
    decoder.read_buffer(12).extend_from_slice(&head);
    let buffer = decoder.read_buffer(64);
    assert!(buffer.capacity() < 1024, "nothing sized by a refused prefix");
    assert!(matches!(decoder.next_frame(), Err(FrameError::TooLarge { .. })));
}

#[test]
fn short_length_refused() {
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    decoder.feed(&7u32.to_le_bytes());
    assert_eq!(decoder.next_frame(), Err(FrameError::TooShort { length: 7 }));
}

#[test]
fn wanted_counts_down_to_frame_end() {
    let frame = encode_frame(FrameHeader::request(2, 1), b"abc");
    let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    assert_eq!(decoder.wanted(), FRAME_HEADER_BYTES);
    decoder.feed(&frame[..4]);
    assert_eq!(decoder.wanted(), frame.len() - 4);
    decoder.feed(&frame[4..]);
    assert!(decoder.next_frame().unwrap().is_some());
    assert_eq!(decoder.wanted(), FRAME_HEADER_BYTES);
}

#[test]
fn next_frame_with_borrows_the_same_frames_as_next_frame() {
    // Small frames borrowed from the stream buffer, a large one through its
    // own body buffer, byte by byte and in one piece: the same headers and
    // bodies as `next_frame`, and a broken stream stays broken.
    let large = vec![7u8; 100];
    let mut stream = encode_frame(FrameHeader::response(0x21, 1), b"first");
    stream.extend_from_slice(&encode_frame(FrameHeader::response(0x21, 2), &large));
    stream.extend_from_slice(&encode_frame(FrameHeader::response(0x02, 3), b""));
    let (expected, _) = decode_by_reads(&stream, 64, &[stream.len()]);
    for piece in [1, stream.len()] {
        let mut decoder = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).with_direct_body_min(64);
        let mut seen = Vec::new();
        for chunk in stream.chunks(piece) {
            decoder.read_buffer(chunk.len()).extend_from_slice(chunk);
            while let Some(frame) = decoder
                .next_frame_with(|header, body| Frame {
                    header,
                    body: body.to_vec(),
                })
                .unwrap()
            {
                seen.push(frame);
            }
        }
        assert_eq!(seen, expected, "pieces of {piece} bytes");
        assert_eq!(decoder.buffered_bytes(), 0);
    }
    let mut broken = FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT);
    broken.feed(&[0xff; 8]);
    assert!(broken.next_frame_with(|_, _| ()).is_err());
    assert!(broken.next_frame_with(|_, _| ()).is_err());
}
