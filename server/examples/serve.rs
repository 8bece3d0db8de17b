//! Run a server from an optional TOML file until SIGTERM/SIGINT:
//! `cargo run -p millrace-server --example serve -- [config.toml]`.
//! (`millrace serve` in the CLI is the real entry point; this one exists for
//! measurements such as idle RSS without the CLI.)

use std::path::Path;

use millrace_server::{serve, ServerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = match std::env::args().nth(1) {
        Some(path) => ServerConfig::load(Path::new(&path))?,
        None => ServerConfig::default(),
    };
    serve(config, |handle| eprintln!("serving on {}", handle.local_addr()))?;
    Ok(())
}
