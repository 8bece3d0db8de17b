//! Idempotent producers: InitProducerId without a transactional id, and the
//! stamp of an idempotent Produce batch (design/kafka.md, "Idempotent
//! producers").
//!
//! Each InitProducerId registers a new anonymous engine producer (epoch 0;
//! the idle expiry forgets it). Kafka sequences are `int32` and wrap from
//! `i32::MAX` to 0; the engine's are `u32` and wrap at 2^32. No format
//! change maps one onto the other: a batch's Kafka sequence `s` becomes the
//! engine sequence `e ≡ s (mod 2^31)` nearest to the partition's next
//! expected engine sequence ([`engine_sequence`]). The next batch maps to
//! exactly the expected sequence, a retry of a batch still in the
//! de-duplication window to the sequence it was written with (its
//! original offsets come back), a gap to a sequence ahead (out of order),
//! and a wrap of `s` is a step of one like any other.

use super::errors::{self, code_of};
use super::{respond, Conn, Front, Handled};
use crate::auth::{Permission, Permissions};
use crate::kafka::protocol::messages::txn::{InitProducerIdRequest, InitProducerIdResponse};
use crate::kafka::protocol::{RequestHeader, Response};
use crate::kafka::records::BatchHeader;
use std::sync::atomic::Ordering::Relaxed;

/// Shared state of this area (one per front): none, the engine's registry
/// holds every producer.
#[derive(Debug, Default)]
pub(crate) struct Producers {}

/// Kafka sequences wrap at 2^31.
const KAFKA_SEQUENCE_MASK: u32 = (1 << 31) - 1;
/// Half of Kafka's sequence space: a Kafka sequence maps to the engine
/// sequence within this distance of the next expected one.
const HALF_WINDOW: u32 = 1 << 30;

/// InitProducerId (v0–1) without a transactional id: a new anonymous
/// producer per call, epoch 0. Needs the produce permission (Kafka's
/// IDEMPOTENT_WRITE; refused with CLUSTER_AUTHORIZATION_FAILED). A
/// principal with `anonymous_producers_max` live ones gets
/// THROTTLING_QUOTA_EXCEEDED (librdkafka retries every 500 ms with a
/// warning naming the code; the others fail the producer).
pub(crate) fn init_producer_id(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    _request: InitProducerIdRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let produce = Permissions::of(&[Permission::Produce]);
    let result = if conn.session.principal.permissions.contains(produce) {
        let live_max = usize::try_from(front.config.anonymous_producers_max).unwrap_or(usize::MAX);
        match front.service.init_anonymous_producer(&conn.session, live_max) {
            Ok(Some(session)) => {
                front.service.metrics.kafka.producer_ids_issued.fetch_add(1, Relaxed);
                Ok(session)
            }
            Ok(None) => {
                front.service.metrics.kafka.producer_ids_refused.fetch_add(1, Relaxed);
                front
                    .service
                    .metrics
                    .kafka
                    .record_error(header.api_key, errors::THROTTLING_QUOTA_EXCEEDED);
                tracing::debug!(
                    principal = conn.session.principal.name.as_deref().unwrap_or(""),
                    live_max,
                    "InitProducerId refused: the principal holds the most live idempotent producer ids"
                );
                Err(errors::THROTTLING_QUOTA_EXCEEDED)
            }
            Err(error) => Err(code_of(&error)),
        }
    } else {
        Err(errors::CLUSTER_AUTHORIZATION_FAILED)
    };
    let response = match result {
        Ok(session) => match (i64::try_from(session.producer_id), i16::try_from(session.epoch)) {
            (Ok(producer_id), Ok(producer_epoch)) => InitProducerIdResponse {
                throttle_time_ms: 0,
                error_code: errors::NONE,
                producer_id,
                producer_epoch,
            },
            // Anonymous ids are below 2^63 at epoch 0: never reached.
            _ => refused(errors::UNKNOWN_SERVER_ERROR),
        },
        Err(code) => refused(code),
    };
    respond(out, header, &Response::InitProducerId(response))
}

fn refused(error_code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code,
        producer_id: -1,
        producer_epoch: -1,
    }
}

/// The engine's stamp for an idempotent batch (`producer_id >= 0`, not
/// transactional) of `topic`/`partition`, or the Kafka error code to answer
/// the partition with. Called by the Produce handler (`produce`).
///
/// Unknown (or expired) producer id → UNKNOWN_PRODUCER_ID, unless the
/// batch is its client's restart after an epoch bump ([`readmit`]); a newer
/// epoch than a live anonymous producer's at sequence 0 is its client's own
/// bump, taken ([`bump`]); any other epoch than the producer's →
/// INVALID_PRODUCER_EPOCH; a producer of
/// another token, an unknown topic or partition → the code of the service's
/// error. The sequence is mapped by [`engine_sequence`]; the append itself
/// then answers out of order (OUT_OF_ORDER_SEQUENCE_NUMBER) or a duplicate
/// (its original offsets, error NONE).
pub(crate) fn stamp(
    front: &Front,
    conn: &Conn,
    topic: &str,
    partition: u32,
    batch: &BatchHeader,
) -> Result<millrace::ProducerStamp, i16> {
    let producer_id = u64::try_from(batch.producer_id).map_err(|_| errors::UNKNOWN_PRODUCER_ID)?;
    let epoch = u16::try_from(batch.producer_epoch).map_err(|_| errors::INVALID_PRODUCER_EPOCH)?;
    let position = |front: &Front| {
        front
            .service
            .producer_position(&conn.session, producer_id, epoch, topic, partition)
            .map_err(|error| code_of(&error))
    };
    let (mut current, mut last) = position(front)?;
    if current.is_none() && batch.base_sequence == 0 && readmit(front, conn, producer_id, epoch)? {
        (current, last) = position(front)?;
    }
    if current.is_some_and(|current| epoch > current) && batch.base_sequence == 0 {
        bump(front, conn, producer_id, epoch)?;
        // Moved, or moved already by another partition's batch (or not a
        // live anonymous id of this principal: then still the older epoch).
        (current, last) = position(front)?;
    }
    match current {
        None => return Err(errors::UNKNOWN_PRODUCER_ID),
        Some(current) if current != epoch => return Err(errors::INVALID_PRODUCER_EPOCH),
        Some(_) => {}
    }
    let base_sequence = engine_sequence(batch.base_sequence, last).ok_or(errors::OUT_OF_ORDER_SEQUENCE_NUMBER)?;
    Ok(millrace::ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    })
}

/// An idempotent producer whose id expired, told UNKNOWN_PRODUCER_ID, bumps
/// its own epoch and sends again from sequence 0 (librdkafka: "resetting
/// PID and retrying", KIP-360 on the client side, no InitProducerId); Kafka
/// accepts such a batch. So does the front: an expired anonymous id comes
/// back at the batch's epoch (above the one it expired at, never 0) for the
/// session's principal, within its cap of live ids. True when it did.
/// Anything else (a live id, a named producer, an older epoch, the cap
/// reached) stays UNKNOWN_PRODUCER_ID.
fn readmit(front: &Front, conn: &Conn, producer_id: u64, epoch: u16) -> Result<bool, i16> {
    use millrace::producer_state::Readmission;
    let live_max = usize::try_from(front.config.anonymous_producers_max).unwrap_or(usize::MAX);
    let readmitted = front
        .service
        .readmit_anonymous_producer(&conn.session, producer_id, epoch, live_max)
        .map_err(|error| code_of(&error))?;
    match readmitted {
        Readmission::Readmitted => {
            front
                .service
                .metrics
                .kafka
                .producer_ids_readmitted
                .fetch_add(1, Relaxed);
            tracing::debug!(
                producer_id,
                epoch,
                "expired idempotent producer id taken back at its bumped epoch"
            );
            Ok(true)
        }
        Readmission::Full => {
            front.service.metrics.kafka.producer_ids_refused.fetch_add(1, Relaxed);
            Ok(false)
        }
        Readmission::Refused => Ok(false),
    }
}

/// A live idempotent producer's client bumped its own epoch and sends again
/// from sequence 0: librdkafka does so after requests in flight timed out
/// ("bumping epoch locally", KIP-360 on the client side, no
/// InitProducerId), and Kafka accepts a newer epoch of a non-transactional
/// id from sequence 0. A live anonymous id of the session's principal moves
/// to the batch's epoch (`Producers::bump_anonymous`: durable before the
/// append; older epochs fenced from then on). A named producer's epoch
/// moves through InitProducerId only.
fn bump(front: &Front, conn: &Conn, producer_id: u64, epoch: u16) -> Result<(), i16> {
    let bumped = front
        .service
        .bump_anonymous_producer(&conn.session, producer_id, epoch)
        .map_err(|error| code_of(&error))?;
    if bumped {
        front.service.metrics.kafka.producer_epochs_bumped.fetch_add(1, Relaxed);
        tracing::debug!(producer_id, epoch, "idempotent producer's own epoch bump taken");
    }
    Ok(())
}

/// The engine sequence of Kafka sequence `kafka` (`0..=i32::MAX`; `None`
/// when negative) for a producer whose last record in the partition has
/// engine sequence `last` (`None`: no record, the next is 0): the `e ≡ kafka
/// (mod 2^31)` nearest to the next expected sequence, i.e. within
/// `-2^30..2^30` of it (wrapping at 2^32, as the engine does). Retries (at
/// most the de-duplication window behind) and gaps (ahead) keep their
/// distance to the expected sequence, so the engine tells them apart as it
/// does for its own producers; `i32::MAX` followed by 0 is one step.
pub(crate) fn engine_sequence(kafka: i32, last: Option<u32>) -> Option<u32> {
    let kafka = u32::try_from(kafka).ok()?;
    let next = last.map_or(0, |s| s.wrapping_add(1));
    // Distance from `next` to `kafka` modulo 2^31, then signed: -2^30..2^30.
    let ahead = kafka.wrapping_sub(next) & KAFKA_SEQUENCE_MASK;
    Some(if ahead < HALF_WINDOW {
        next.wrapping_add(ahead)
    } else {
        next.wrapping_sub((KAFKA_SEQUENCE_MASK + 1) - ahead)
    })
}

#[cfg(test)]
#[path = "producers_tests.rs"]
mod tests;
