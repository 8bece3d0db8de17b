//! Shared helpers for the cross-crate integration, crash and end-to-end tests.
