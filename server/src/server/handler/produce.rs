//! Produce and InitProducer.

use crate::error_code::WireError;
use crate::messages::{InitProducer, Produce, Response};
use crate::server::convert;
use crate::server::handler::Inline;
use crate::server::service::{Appended, Service, Session};

/// A produce on the connection's task: written at once unless its producer
/// check may block; an owed fsync comes back as [`Inline::Durable`].
pub(super) fn produce_inline(service: &Service, session: &Session, produce: Produce) -> Inline {
    let producer_id = produce.producer.map(|stamp| stamp.producer_id);
    if !service.may_append_inline(session, producer_id) {
        // Another principal's producer, or one without an owner that this
        // principal claims (a registry write): decided off the connection's task.
        return Inline::Blocking(crate::messages::Request::Produce(produce));
    }
    let stamp = produce.producer.map(convert::producer_stamp);
    match service.append_inline(&produce.topic, produce.partition, &produce.records, stamp) {
        Ok(Appended::Acknowledged(append)) => Inline::Done(Ok(convert::produced(append))),
        Ok(owed @ Appended::Owed(_)) => Inline::Durable { appended: owed },
        Err(error) => Inline::Done(Err(error.into())),
    }
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
