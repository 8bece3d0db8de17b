//! Produce and InitProducer.

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{InitProducer, Produce, ProduceFrame, Response};
use crate::server::convert;
use crate::server::handler::Inline;
use crate::server::service::{Appended, Service, Session};

/// A produce on the connection's task, its records appended borrowed from
/// the request's frame: written at once unless its producer check may
/// block; an owed fsync comes back as [`Inline::Durable`].
pub(super) fn produce_inline(service: &Service, session: &Session, produce: ProduceFrame) -> Inline {
    let producer_id = produce.producer.map(|stamp| stamp.producer_id);
    if !service.may_append_inline(session, producer_id) {
        // Another principal's producer, or one without an owner that this
        // principal claims (a registry write): decided off the connection's
        // task, with owned records (rare).
        return match produce.into_produce() {
            Ok(produce) => Inline::Blocking(crate::messages::Request::Produce(produce)),
            Err(error) => Inline::Done(Err(undecodable(&error))),
        };
    }
    let records = match produce.records() {
        Ok(records) => records,
        Err(error) => return Inline::Done(Err(undecodable(&error))),
    };
    let stamp = produce.producer.map(convert::producer_stamp);
    match service.append_inline(&produce.topic, produce.partition, &records, stamp) {
        Ok(Appended::Acknowledged(append)) => Inline::Done(Ok(convert::produced(append))),
        Ok(owed @ Appended::Owed(_)) => Inline::Durable { appended: owed },
        Err(error) => Inline::Done(Err(error.into())),
    }
}

/// A frame body checked when it was received no longer decodes: cannot
/// happen (the body is not changed in between), answered, not a panic.
fn undecodable(error: &crate::wire::DecodeError) -> WireError {
    WireError::new(
        ErrorCode::Internal,
        format!("produce: the checked request no longer decodes: {error}"),
    )
}

/// Produce and wait for the acknowledgement (blocking when an fsync is owed).
pub(super) fn produce(service: &Service, session: &Session, produce: Produce) -> Result<Response, WireError> {
    let stamp = produce.producer.map(convert::producer_stamp);
    let appended = service.append(session, &produce.topic, produce.partition, &produce.records, stamp)?;
    Ok(convert::produced(appended.wait()?))
}

pub(super) fn init_producer(service: &Service, session: &Session, init: &InitProducer) -> Result<Response, WireError> {
    let producer = service.init_producer(session, &init.name)?;
    Ok(Response::ProducerInit(convert::producer_init(&producer)))
}
