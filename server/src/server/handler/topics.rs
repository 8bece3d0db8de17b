//! CreateTopic, DescribeTopic, DescribeDamage (DeleteTopic and ListTopics map one to one,
//! in the dispatch).

use crate::error_code::WireError;
use crate::messages::{AlterTopic, ConfigEntry, CreateTopic, DescribeDamage, Response, TopicAltered, TopicName};
use crate::server::convert;
use crate::server::service::{Service, Session};

pub(super) fn create(service: &Service, session: &Session, create: &CreateTopic) -> Result<Response, WireError> {
    let config = convert::topic_config(create)?;
    let record_bytes_max_set = convert::sets_record_bytes_max(create);
    service.create_topic(&session.actor(), &create.name, config, record_bytes_max_set)?;
    Ok(Response::Empty)
}

pub(super) fn alter(service: &Service, session: &Session, alter: &AlterTopic) -> Result<Response, WireError> {
    let changes: Vec<(String, String)> = alter.config.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
    let (before, after) = service.alter_topic(&session.actor(), &alter.name, &changes, alter.dry_run)?;
    let entries = |config: &millrace::TopicConfig| -> Vec<ConfigEntry> {
        config
            .entries()
            .into_iter()
            .map(|(key, value)| ConfigEntry {
                key: key.to_string(),
                value,
            })
            .collect()
    };
    Ok(Response::TopicAltered(TopicAltered {
        before: entries(&before),
        after: entries(&after),
    }))
}

pub(super) fn describe(service: &Service, topic: &TopicName) -> Result<Response, WireError> {
    let description = service.describe_topic(&topic.name)?;
    Ok(Response::TopicDescription(convert::topic_description(description)))
}

pub(super) fn describe_damage(service: &Service, session: &Session, request: &DescribeDamage) -> Response {
    let damage = service.damaged(session, request.topic.as_deref());
    let room = service
        .frame_bytes_max
        .saturating_sub(crate::listing::LISTING_RESPONSE_OVERHEAD_BYTES) as usize;
    Response::Damage(convert::damage_report(damage, room))
}
