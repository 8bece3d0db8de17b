//! Arbitrary bytes through the server's incremental frame decoder and the
//! request/response decoders (`millrace_server::fuzzing::frame_decode`):
//! no panic, no allocation driven by a length prefix, canonical re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    millrace_server::fuzzing::frame_decode(data);
});
