//! Test infrastructure, compiled only with the non-default `testing` feature
//! (the workspace's test crates enable it through their dev-dependencies), so
//! an embedder's build never carries it.
//!
//! - [`sim`]: a simulated disk, a [`crate::io::Storage`] with power cuts
//!   and injected I/O errors, for crash and fault tests.

pub mod sim;
