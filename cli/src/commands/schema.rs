//! `millrace schema register|list|show|check|delete|config`: the schema
//! registry of a data directory, or with `--server` of a running server
//! (the same code runs there; it also serves the registry's REST API on
//! `--registry-listen`).

use clap::{Args, Subcommand, ValueEnum};
use millrace::schema::{Compatibility, SchemaType};
use millrace_server::messages::{ContractCommand as Command, SchemaVersion};
use serde_json::Value;
use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::output;
use crate::target::run_contract_command;

#[derive(Debug, Args)]
#[command(after_help = "\
The registry lives in the data directory (internal topic __schemas); these
commands open it offline, or with --server ADDR ask a running server (changes
need an admin token there). The server also serves it as the Confluent REST
API (--registry-listen, default http://127.0.0.1:8081).

Examples:
  millrace schema register orders-value --file order.avsc
  millrace schema register events-value --type json --schema '{\"type\":\"object\"}'
  millrace schema check orders-value --file order-v2.avsc
  millrace schema list
  millrace schema show orders-value --version latest
  millrace schema show --id 3
  millrace schema delete orders-value --version 1 [--permanent]
  millrace schema config orders-value --set FULL_TRANSITIVE")]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Avro,
    Json,
    Protobuf,
}

impl From<TypeArg> for SchemaType {
    fn from(t: TypeArg) -> SchemaType {
        match t {
            TypeArg::Avro => SchemaType::Avro,
            TypeArg::Json => SchemaType::Json,
            TypeArg::Protobuf => SchemaType::Protobuf,
        }
    }
}

/// A schema's text, from a file or the command line.
#[derive(Debug, Args)]
struct SchemaText {
    /// The schema's type.
    #[arg(long = "type", value_enum, default_value = "avro")]
    schema_type: TypeArg,
    /// Read the schema from this file.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "schema",
        required_unless_present = "schema"
    )]
    file: Option<PathBuf>,
    /// The schema's text.
    #[arg(long, value_name = "TEXT")]
    schema: Option<String>,
}

impl SchemaText {
    fn read(&self) -> CliResult<(SchemaType, String)> {
        let text = match (&self.file, &self.schema) {
            (Some(path), _) => {
                let metadata = std::fs::metadata(path)
                    .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
                let limit = millrace::schema::SCHEMA_BYTES_MAX as u64;
                if metadata.len() > limit {
                    return Err(CliError::usage(format!(
                        "{} holds {} bytes; a schema has at most {limit}",
                        path.display(),
                        metadata.len()
                    )));
                }
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?
            }
            (None, Some(text)) => text.clone(),
            (None, None) => return Err(CliError::usage("give the schema with --file or --schema")),
        };
        Ok((self.schema_type.into(), text))
    }
}

/// A version on the command line: a number, or `latest` (`None`).
#[derive(Debug, Clone, Copy)]
struct VersionArg(Option<u32>);

fn parse_version(text: &str) -> Result<VersionArg, String> {
    if text == "latest" {
        return Ok(VersionArg(None));
    }
    text.parse::<u32>()
        .ok()
        .filter(|v| *v >= 1)
        .map(|v| VersionArg(Some(v)))
        .ok_or_else(|| format!("{text:?}: a version number from 1, or `latest`"))
}

fn parse_level(text: &str) -> Result<Compatibility, String> {
    Compatibility::from_name(text).ok_or_else(|| {
        format!("{text:?}: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE")
    })
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Register a schema under a subject (its id and version; the same
    /// schema again answers the same ones). Refused if it breaks the
    /// subject's compatibility level.
    Register {
        /// The subject to register under (e.g. `orders-value`).
        subject: String,
        #[command(flatten)]
        text: SchemaText,
    },
    /// Subjects with their latest version and schema id.
    List {
        /// Also subjects whose versions are all soft-deleted, and a
        /// SOFT-DELETED column naming each subject's soft-deleted versions.
        #[arg(long)]
        deleted: bool,
    },
    /// One version of a subject (default: the latest), or a schema by id.
    Show {
        /// The subject whose version to show (or give --id instead).
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        subject: Option<String>,
        /// A version number or `latest` (the default).
        #[arg(long, value_parser = parse_version)]
        version: Option<VersionArg>,
        /// The schema with this global id.
        #[arg(long)]
        id: Option<u32>,
    },
    /// Whether a schema passes the subject's compatibility level (exit 0),
    /// or why not (exit 1), without registering it.
    Check {
        /// The subject whose compatibility level and versions to check against.
        subject: String,
        #[command(flatten)]
        text: SchemaText,
        /// Against this version only (a number or `latest`) instead of the
        /// versions the level names.
        #[arg(long, value_parser = parse_version)]
        version: Option<VersionArg>,
    },
    /// Soft-delete a subject's versions (or one with --version); with
    /// --permanent, remove versions soft-deleted before.
    Delete {
        /// The subject whose versions to delete.
        subject: String,
        /// A version number or `latest`.
        #[arg(long, value_parser = parse_version)]
        version: Option<VersionArg>,
        /// Remove for good the versions soft-deleted before (a version must be
        /// soft-deleted first).
        #[arg(long)]
        permanent: bool,
    },
    /// The compatibility level of a subject (or the global one), or set or clear it.
    Config {
        /// The subject whose level to show or set (default: the global level).
        subject: Option<String>,
        /// NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE.
        #[arg(long, value_parser = parse_level, conflicts_with = "clear")]
        set: Option<Compatibility>,
        /// Remove the level set (the subject falls back to the global one, the global one to BACKWARD).
        #[arg(long)]
        clear: bool,
    },
}

/// A `--version` argument on the wire (`None`: not given).
fn wire_version(version: Option<VersionArg>) -> Option<SchemaVersion> {
    version.map(|VersionArg(v)| v.map_or(SchemaVersion::Latest, SchemaVersion::Number))
}

pub fn run(global: &GlobalArgs, args: SchemaArgs) -> CliResult<u8> {
    let command = match args.command {
        SchemaCommand::Register { subject, text } => {
            let (schema_type, schema) = text.read()?;
            Command::SchemaRegister {
                subject,
                schema_type: schema_type.name().to_string(),
                schema,
            }
        }
        SchemaCommand::List { deleted } => Command::SchemaList { deleted },
        SchemaCommand::Show { subject, version, id } => {
            if subject.is_none() && id.is_none() {
                return Err(CliError::usage("name a subject or --id"));
            }
            Command::SchemaShow {
                subject,
                version: wire_version(version),
                id,
            }
        }
        SchemaCommand::Check { subject, text, version } => {
            let (schema_type, schema) = text.read()?;
            Command::SchemaCheck {
                subject,
                schema_type: schema_type.name().to_string(),
                schema,
                version: wire_version(version),
            }
        }
        SchemaCommand::Delete {
            subject,
            version,
            permanent,
        } => Command::SchemaDelete {
            subject,
            version: wire_version(version),
            permanent,
        },
        SchemaCommand::Config { subject, set, clear } => Command::SchemaConfig {
            subject,
            set: set.map(|level| level.name().to_string()),
            clear,
        },
    };
    let answer = run_contract_command(global, command.clone())?;
    print_answer(global, &command, &answer)
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn number(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_u64)
        .map_or("-".into(), |v| v.to_string())
}

/// The version numbers listed under `key` ("softDeleted", "checked"), as text.
fn version_list(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|v| v.to_string())
        .collect()
}

/// The soft-deleted versions of a `schema list --deleted` row ("1, 3"), or "-".
fn soft_deleted_cell(row: &Value) -> String {
    let versions = version_list(row, "softDeleted");
    if versions.is_empty() {
        "-".into()
    } else {
        versions.join(", ")
    }
}

/// What a check was made against: "S version 3 under FULL (the subject's
/// level FULL_TRANSITIVE, against this version only)", "S versions 1, 2 under
/// BACKWARD_TRANSITIVE", or "S under BACKWARD (no version to check against)".
fn checked_what(subject: &str, answer: &Value) -> String {
    let level = text(answer, "level");
    let applied = answer.get("applied").and_then(Value::as_str).unwrap_or(level);
    let checked = version_list(answer, "checked");
    let versions = match checked.len() {
        0 => String::new(),
        1 => format!(" version {}", checked.join("")),
        _ => format!(" versions {}", checked.join(", ")),
    };
    let note = if checked.is_empty() {
        " (no version to check against)".to_string()
    } else if applied == level {
        String::new()
    } else {
        format!(" (the subject's level is {level}; against this version only)")
    };
    format!("{subject}{versions} under {applied}{note}")
}

fn print_answer(global: &GlobalArgs, command: &Command, answer: &Value) -> CliResult<u8> {
    let compatible = answer.get("compatible").and_then(Value::as_bool);
    if global.json {
        output::print_json(answer)?;
        return Ok(if compatible == Some(false) {
            exit::ERROR
        } else {
            exit::OK
        });
    }
    match command {
        Command::SchemaRegister { subject, .. } => {
            println!(
                "{subject} version {} (schema id {})",
                number(answer, "version"),
                number(answer, "id")
            );
        }
        Command::SchemaList { deleted } => {
            let mut headings = vec!["SUBJECT", "LATEST", "ID", "TYPE"];
            if *deleted {
                headings.push("SOFT-DELETED");
            }
            let mut table = output::Table::new(&headings);
            for row in answer.as_array().into_iter().flatten() {
                let (version, id, schema_type) = if row.get("latest").is_some_and(Value::is_u64) {
                    (
                        number(row, "latest"),
                        number(row, "id"),
                        text(row, "schemaType").to_string(),
                    )
                } else {
                    ("deleted".into(), "-".into(), "-".into())
                };
                let mut cells = vec![text(row, "subject").to_string(), version, id, schema_type];
                if *deleted {
                    cells.push(soft_deleted_cell(row));
                }
                table.row(cells);
            }
            table.print()?;
        }
        Command::SchemaShow { .. } => println!("{}", text(answer, "schema")),
        Command::SchemaCheck { subject, .. } => {
            let what = checked_what(subject, answer);
            if compatible == Some(true) {
                println!("compatible with {what}");
            } else {
                println!("incompatible with {what}:");
                for message in answer.get("messages").and_then(Value::as_array).into_iter().flatten() {
                    println!("  {}", message.as_str().unwrap_or_default());
                }
            }
        }
        Command::SchemaDelete { subject, permanent, .. } => {
            let list: Vec<String> = answer
                .get("deleted")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(|v| v.to_string())
                .collect();
            println!(
                "{} {subject} version{} {}",
                if *permanent {
                    "permanently deleted"
                } else {
                    "soft-deleted"
                },
                if list.len() == 1 { "" } else { "s" },
                list.join(", ")
            );
        }
        Command::SchemaConfig { subject, .. } => {
            let set = answer.get("set").and_then(Value::as_bool).unwrap_or(false);
            println!(
                "{}: {}{}",
                subject.as_deref().unwrap_or("global"),
                text(answer, "compatibility"),
                if set { "" } else { " (default)" }
            );
        }
        _ => output::print_json(answer)?,
    }
    Ok(if compatible == Some(false) {
        exit::ERROR
    } else {
        exit::OK
    })
}
