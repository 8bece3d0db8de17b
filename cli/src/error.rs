//! Errors of the CLI and their exit codes. Every error says what was wrong and,
//! where there is one, what to do about it.

use std::fmt;
use std::process::ExitCode;

/// Exit codes, documented in `millrace --help` and the README.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An error: I/O, missing topic, locked directory, bad input data, ...
    pub const ERROR: u8 = 1;
    /// Bad command line (unknown flag, missing argument, invalid value).
    pub const USAGE: u8 = 2;
    /// `check`, `dump`, `repair` or opening the store found corruption.
    pub const CORRUPTION: u8 = 3;
    /// Stopped by Ctrl-C (SIGINT) after printing what was done and how to
    /// resume (128 + SIGINT, as a shell reports it).
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hint: None,
            code: exit::ERROR,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: exit::USAGE,
            ..CliError::new(message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Print to stderr and turn into the process exit code. A closed stdout
    /// (`millrace consume | head`) is not an error.
    pub fn report(self) -> ExitCode {
        if self.code != BROKEN_PIPE {
            eprintln!("error: {}", self.message);
            if let Some(hint) = &self.hint {
                eprintln!("hint: {hint}");
            }
        }
        ExitCode::from(if self.code == BROKEN_PIPE { exit::OK } else { self.code })
    }
}

/// Internal marker code for a closed stdout; reported as success.
const BROKEN_PIPE: u8 = 255;

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError {
                message: String::new(),
                hint: None,
                code: BROKEN_PIPE,
            };
        }
        CliError::new(format!("I/O error: {e}"))
    }
}

impl From<millrace::Error> for CliError {
    fn from(e: millrace::Error) -> Self {
        use millrace::Error as E;
        let message = e.to_string();
        match &e {
            E::Corruption { .. } => CliError {
                code: exit::CORRUPTION,
                ..CliError::new(message)
            }
            .with_hint("run `millrace check` for a full report and `millrace repair` for the repair plan"),
            // Only damaged files are confined (corruption, a missing file).
            E::Damaged { .. } => CliError {
                code: exit::CORRUPTION,
                ..CliError::new(message)
            }
            .with_hint("the rest of the store is open; run `millrace check` for a report and `millrace repair` for the repair plan"),
            E::FormatTooNew { .. } => CliError::new(message)
                .with_hint("this data directory was written by a newer millrace; run that version (nothing was changed)"),
            E::Locked { path, .. } => CliError::new(message).with_hint(format!(
                "a running server (or another millrace command) holds {}; stop it, or run the command against the server with `--server ADDR`",
                path.display()
            )),
            E::TopicNotFound(_) => CliError::new(message).with_hint("list topics with `millrace topic list`"),
            E::TopicExists(_) => {
                CliError::new(message).with_hint("pick another name, or delete it first with `millrace topic delete`")
            }
            E::PartitionNotFound { topic, .. } => CliError::new(message)
                .with_hint(format!("see the partitions with `millrace topic describe {topic}`")),
            E::NotADataDir { .. } => CliError::new(message).with_hint(
                "pass the store's directory with --data DIR (or MILLRACE_DATA); to create a store, name an empty or new directory",
            ),
            E::QuotaExceeded { .. } | E::Poisoned | E::NoSpace { .. } => CliError::new(message),
            E::InvalidInput { .. } => CliError::new(message),
            _ => CliError::new(message),
        }
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            return CliError::from(std::io::Error::from(e));
        }
        CliError::new(format!("JSON error: {e}"))
    }
}
