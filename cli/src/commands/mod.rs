//! One module per command; `run` dispatches and returns the exit code.

pub mod bench;
pub mod check;
pub mod completions;
pub mod consume;
pub mod contract;
pub mod dlq;
pub mod dump;
#[cfg(feature = "mirror")]
pub mod mirror;
pub mod offsets;
pub mod offsets_plan;
pub mod offsets_show;
pub mod produce;
pub mod repair;
pub mod repair_restore;
pub mod replay;
pub mod schema;
pub mod serve;
pub mod stats;
pub mod status;
pub mod topic;
pub mod topic_alter;
pub mod topic_history;

use crate::cli::{Cli, Command};
use crate::error::{exit, CliResult};

pub fn run(cli: Cli) -> CliResult<u8> {
    let global = &cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(global, args).map(|()| exit::OK),
        Command::Topic(args) => topic::run(global, args).map(|()| exit::OK),
        Command::Produce(args) => produce::run(global, args).map(|()| exit::OK),
        Command::Consume(args) => consume::run(global, args).map(|()| exit::OK),
        Command::Offsets(args) => offsets::run(global, args).map(|()| exit::OK),
        Command::Group(args) => offsets::run_group(global, args).map(|()| exit::OK),
        Command::Dlq(args) => dlq::run(global, args).map(|()| exit::OK),
        Command::Replay(args) => replay::run(global, args).map(|()| exit::OK),
        Command::Schema(args) => schema::run(global, args),
        Command::Stats(args) => stats::run(global, args).map(|()| exit::OK),
        Command::Status(args) => status::run(global, args),
        Command::Check(args) => check::run(global, args),
        Command::Dump(args) => dump::run(global, args),
        Command::Repair(args) => repair::run(global, args),
        Command::Bench(args) => bench::run(global, args).map(|()| exit::OK),
        Command::Completions(args) => completions::run(args).map(|()| exit::OK),
        #[cfg(feature = "mirror")]
        Command::Mirror(args) => mirror::run(global, args).map(|()| exit::OK),
        Command::Contract(args) => contract::run(global, args),
    }
}
