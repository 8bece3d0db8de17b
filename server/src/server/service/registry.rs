//! The schema registry through the service: who may do what, and the
//! engine call off the async threads. The REST front decides which
//! [`RegistryAccess`] a request needs and maps the result to its codes.

use millrace::schema::SchemaRegistry;

use super::{Service, ServiceError, ServiceResult};
use crate::auth::{Permission, Permissions, Principal};

/// What a registry request does, for the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryAccess {
    /// Reads, lookups and compatibility checks: any token (`produce` or
    /// `consume`: serializers and deserializers both look schemas up).
    Read,
    /// Registering a schema: `produce` (serializers register on first use).
    Register,
    /// Deletes and compatibility settings: `admin`.
    Admin,
}

impl Service {
    /// Run `call` on the store's schema registry for `principal`, if its
    /// token allows `access`; the call may block (a registration's fsync).
    pub async fn registry<T: Send + 'static>(
        &self,
        principal: &Principal,
        access: RegistryAccess,
        call: impl FnOnce(SchemaRegistry) -> millrace::Result<T> + Send + 'static,
    ) -> ServiceResult<T> {
        let permissions = principal.permissions;
        let allowed = match access {
            RegistryAccess::Read => permissions != Permissions::NONE,
            RegistryAccess::Register => permissions.contains(Permissions::of(&[Permission::Produce])),
            RegistryAccess::Admin => permissions.is_admin(),
        };
        if !allowed {
            let needs = match access {
                RegistryAccess::Read => "any permission",
                RegistryAccess::Register => "the produce permission",
                RegistryAccess::Admin => "the admin permission",
            };
            return Err(ServiceError::PermissionDenied(format!(
                "this registry request needs {needs}"
            )));
        }
        let registry = self.store.schemas();
        crate::server::blocking::run_blocking(move || call(registry))
            .await
            .map_err(|_| ServiceError::Internal("a schema registry call panicked".into()))?
            .map_err(ServiceError::Engine)
    }
}
