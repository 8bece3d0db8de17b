//! Arbitrary bytes as a Kafka request frame through the Kafka codec's
//! dispatch (`millrace_server::kafka::protocol::fuzz_check::kafka_request`):
//! no panic, canonical re-encoding of what decodes, the answer encodes.
//! Run with `-malloc_limit_mb=` to catch a count-driven allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    millrace_server::kafka::protocol::fuzz_check::kafka_request(data);
});
