//! What the Kafka front's cluster APIs (Metadata) need of the store beyond
//! the native front's calls.

use super::Service;

impl Service {
    /// The store's own topics (`__offsets`, DLQs `__dlq.*`, ...), sorted.
    pub fn list_internal_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .store
            .list_all_topics()
            .into_iter()
            .filter(|name| millrace::names::is_internal(name))
            .collect();
        topics.sort();
        topics
    }
}
