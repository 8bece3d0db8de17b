//! The schema registry's way in ([`Store::schemas`]).

use super::*;
use crate::schema::SchemaRegistry;

impl Store {
    /// The schema registry (schemas by global id, subjects and versions,
    /// compatibility levels), kept in the internal topic `__schemas`.
    pub fn schemas(&self) -> SchemaRegistry {
        SchemaRegistry::new(self.inner.catalog.clone(), self.inner.schemas.clone())
    }
}
