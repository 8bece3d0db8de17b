//! `millrace`: the server and every operator command, one binary for the edge
//! host. Each command lives in its own module under `commands/`; this file only
//! parses arguments and turns the outcome into an exit code (see [`exit`]).

mod actor;
mod cli;
mod commands;
mod crash_hook;
mod data;
mod error;
mod interrupt;
mod output;
mod parse;
mod target;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                error::exit::USAGE
            } else {
                error::exit::OK
            });
        }
    };
    let own_logging = match &cli.command {
        cli::Command::Serve(_) => true,
        cli::Command::Mirror(mirror) => mirror.runs_the_mirror(),
        _ => false,
    };
    if !own_logging {
        // The engine's warnings (e.g. a torn tail cut at open, with its
        // backup) reach the operator of every offline command; `serve` and
        // a running mirror set up their own (at info: the first setting
        // wins). RUST_LOG overrides.
        output::init_logging("warn");
    }
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(),
    }
}
