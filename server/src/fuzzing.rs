//! Checks shared by the cargo-fuzz target `fuzz/fuzz_targets/frame_decode.rs`
//! and the corpus replay test `server/tests/fuzz_corpus.rs`, so that CI runs
//! exactly what the fuzzer runs.

use crate::error_code::ERROR_MESSAGE_BYTES_MAX;
use crate::frame::{FrameDecoder, FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES};
use crate::messages::{decode_request, decode_response, encode_request, encode_response};

/// Small, so that the fuzzer reaches the too-large path often.
pub const FUZZ_FRAME_BYTES_MAX: u32 = 64 * 1024;

/// The first byte chooses the size of the chunks the rest is fed in. Panics
/// (the fuzzer's finding) if a decoded frame breaks the limit or a decoded
/// message does not re-encode to the same bytes (the encoding is canonical).
pub fn frame_decode(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(FUZZ_FRAME_BYTES_MAX);
    for piece in stream.chunks(chunk) {
        decoder.feed(piece);
        assert!(
            decoder.buffered_bytes() <= stream.len(),
            "decoder holds more than it was fed"
        );
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(
                        frame.body.len() + FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES <= FUZZ_FRAME_BYTES_MAX as usize,
                        "frame above the limit was returned"
                    );
                    if let Ok(request) = decode_request(&frame) {
                        let again = encode_request(frame.header.request_id, &request);
                        let body = again.get(FRAME_HEADER_BYTES..).unwrap_or_default();
                        assert_eq!(body, frame.body.as_slice(), "request encoding is not canonical");
                    }
                    if let Ok(result) = decode_response(&frame) {
                        let long_message = matches!(&result, Err(e) if e.message.len() > ERROR_MESSAGE_BYTES_MAX);
                        if !long_message {
                            let again = encode_response(frame.header.opcode, frame.header.request_id, &result);
                            let body = again.get(FRAME_HEADER_BYTES..).unwrap_or_default();
                            assert_eq!(body, frame.body.as_slice(), "response encoding is not canonical");
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}
