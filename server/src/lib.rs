//! Millrace TCP protocol server and Rust client.
