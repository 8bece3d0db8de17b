//! Producers registered for a Kafka front: anonymous registrations (a new
//! producer per `InitProducerId` without a transactional id) and what a
//! front needs to number a producer's batches its own way.

use super::{Service, ServiceResult, Session};

impl Service {
    /// Register a new anonymous producer (`Producers::init_anonymous_capped`),
    /// owned by the session's principal (nobody's on a server without
    /// tokens, or for an admin token, as [`Service::init_producer`]).
    /// `Ok(None)`: that owner already has `live_max` live anonymous
    /// producers; nothing was registered.
    pub fn init_anonymous_producer(
        &self,
        session: &Session,
        live_max: usize,
    ) -> ServiceResult<Option<millrace::ProducerSession>> {
        Ok(self
            .store
            .producers()
            .init_anonymous_capped(session.producer_owner(), live_max)?)
    }

    /// The current epoch of `producer_id` (`None`: not registered, or
    /// idle past its expiry) and the sequence of the last record a batch of
    /// `epoch` continues from in `topic`/`partition` (`None`: none
    /// remembered, or an anonymous producer's older epoch: it starts at 0),
    /// once the principal may use the producer (checked first: nothing
    /// about another token's producer is revealed).
    pub fn producer_position(
        &self,
        session: &Session,
        producer_id: u64,
        epoch: u16,
        topic: &str,
        partition: u32,
    ) -> ServiceResult<(Option<u16>, Option<u32>)> {
        session.check_producer(&self.store, producer_id)?;
        let producers = self.store.producers();
        let current = producers
            .producer_epoch(producer_id)
            .filter(|_| producers.is_live(producer_id));
        let last = match current {
            Some(_) => producers.last_sequence_at(producer_id, epoch, topic, partition)?,
            None => None,
        };
        Ok((current, last))
    }

    /// Is `producer_id` live at `epoch` and usable by the session without a
    /// producer registry write (its recorded owner is the session's, or the
    /// session's token is not checked against owners)? Read only: what lets
    /// the Kafka front write an idempotent batch on the connection's task;
    /// [`Service::producer_position`] then checks it again and may claim.
    pub fn producer_live_at(&self, session: &Session, producer_id: u64, epoch: u16) -> bool {
        if !self.may_append_inline(session, Some(producer_id)) {
            return false;
        }
        let producers = self.store.producers();
        producers
            .producer_epoch(producer_id)
            .is_some_and(|current| current == epoch && producers.is_live(producer_id))
    }

    /// Move a live anonymous producer id of the session's principal to the
    /// `epoch` its client bumped to (`Producers::bump_anonymous`); false
    /// when it is not one below `epoch`.
    pub fn bump_anonymous_producer(&self, session: &Session, producer_id: u64, epoch: u16) -> ServiceResult<bool> {
        Ok(self
            .store
            .producers()
            .bump_anonymous(producer_id, epoch, session.producer_owner())?)
    }

    /// Take back an expired anonymous producer id at the `epoch` its client
    /// bumped to (`Producers::readmit_anonymous`), owned by the session's
    /// principal, within its `live_max` live anonymous producers.
    pub fn readmit_anonymous_producer(
        &self,
        session: &Session,
        producer_id: u64,
        epoch: u16,
        live_max: usize,
    ) -> ServiceResult<millrace::producer_state::Readmission> {
        Ok(self
            .store
            .producers()
            .readmit_anonymous(producer_id, epoch, session.producer_owner(), live_max)?)
    }
}
