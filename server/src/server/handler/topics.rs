//! CreateTopic, DescribeTopic (DeleteTopic and ListTopics map one to one,
//! in the dispatch).

use crate::error_code::WireError;
use crate::messages::{CreateTopic, Response, TopicName};
use crate::server::convert;
use crate::server::service::Service;

pub(super) fn create(service: &Service, create: &CreateTopic) -> Result<Response, WireError> {
    let config = convert::topic_config(create)?;
    service.create_topic(&create.name, config, convert::sets_record_bytes_max(create))?;
    Ok(Response::Empty)
}

pub(super) fn describe(service: &Service, topic: &TopicName) -> Result<Response, WireError> {
    let description = service.describe_topic(&topic.name)?;
    Ok(Response::TopicDescription(convert::topic_description(description)))
}
