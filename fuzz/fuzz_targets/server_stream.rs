//! Arbitrary byte streams against a live server (one per fuzzing process,
//! over loopback): every frame the server sends decodes as a response, and a
//! well-behaved client is served after each input
//! (`millrace_server::fuzzing::server_stream`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    millrace_server::fuzzing::server_stream(data);
});
