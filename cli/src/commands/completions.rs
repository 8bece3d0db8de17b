//! `millrace completions bash|zsh|fish|...`: print a completion script.

use crate::cli::Cli;
use crate::error::CliResult;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace completions bash > /etc/bash_completion.d/millrace
  millrace completions zsh > \"${fpath[1]}/_millrace\"
  millrace completions fish > ~/.config/fish/completions/millrace.fish")]
pub struct CompletionsArgs {
    /// Shell to generate for.
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> CliResult<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "millrace", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(())
}
