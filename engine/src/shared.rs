//! What the catalog, the facade and the features share: the log's context
//! (`log::context::LogContext`: poison, closed flag, quota, notifier,
//! metrics, the producer seam) and the producer registry. The log sees only
//! the context.

use crate::log::context::LogContext;
use crate::producer::registry::ProducerRegistry;
use std::sync::Arc;

/// State shared by the catalog, the facade and the features of one store.
#[derive(Debug)]
pub(crate) struct Shared {
    /// What every partition shares (handed to `Partition::open`).
    pub(crate) log: Arc<LogContext>,
    /// Producer ids and epochs (producer_registry.rs); the same registry
    /// backs the context's producer seam.
    pub producers: Arc<ProducerRegistry>,
}

/// `shared.metrics`, `shared.poison(..)`, `shared.check_writable()`, … read
/// the log's context (the fields and methods that were `Shared`'s before the
/// context moved into `log/`).
impl std::ops::Deref for Shared {
    type Target = LogContext;

    fn deref(&self) -> &LogContext {
        &self.log
    }
}
