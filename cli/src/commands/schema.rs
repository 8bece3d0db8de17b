//! `millrace schema register|list|show|check|delete|config`: the schema
//! registry of a data directory (the same one `millrace serve` serves on
//! `--registry-listen`; against a running server use that REST API).

use clap::{Args, Subcommand, ValueEnum};
use millrace::schema::{Compatibility, SchemaRegistry, SchemaType, SubjectVersion};
use millrace::Store;
use serde_json::json;
use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{exit, CliError, CliResult};
use crate::output;

#[derive(Debug, Args)]
#[command(after_help = "\
The registry lives in the data directory (internal topic __schemas); these
commands open it offline. While `millrace serve` holds the directory, use its
schema registry (Confluent REST API, --registry-listen, default
http://127.0.0.1:8081) instead.

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
        /// Also subjects whose versions are all soft-deleted.
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

fn version_json(v: &SubjectVersion) -> serde_json::Value {
    json!({"subject": v.subject, "version": v.version, "id": v.id, "schemaType": v.schema_type.name(), "schema": v.schema})
}

fn open(global: &GlobalArgs, writes: bool) -> CliResult<Store> {
    if global.server.is_some() {
        return Err(CliError::usage(
            "`schema` commands open a data directory; a running `millrace serve` answers them on its schema registry \
             (Confluent REST API on --registry-listen, default http://127.0.0.1:8081)",
        ));
    }
    if writes {
        data::open_existing(global)
    } else {
        data::open_read_only(global)
    }
}

pub fn run(global: &GlobalArgs, args: SchemaArgs) -> CliResult<u8> {
    let writes = matches!(
        args.command,
        SchemaCommand::Register { .. }
            | SchemaCommand::Delete { .. }
            | SchemaCommand::Config { set: Some(_), .. }
            | SchemaCommand::Config { clear: true, .. }
    );
    let store = open(global, writes)?;
    let result = run_on(global, &store.schemas(), args.command);
    store.close()?;
    result
}

#[expect(
    clippy::too_many_lines,
    reason = "one arm per subcommand, each a short call and its output; split by subcommand next"
)]
fn run_on(global: &GlobalArgs, registry: &SchemaRegistry, command: SchemaCommand) -> CliResult<u8> {
    match command {
        SchemaCommand::Register { subject, text } => {
            let (schema_type, text) = text.read()?;
            let registered = registry.register(&subject, schema_type, &text)?;
            if global.json {
                output::print_json(&json!({"subject": subject, "version": registered.version, "id": registered.id}))?;
            } else {
                println!("{subject} version {} (schema id {})", registered.version, registered.id);
            }
        }
        SchemaCommand::List { deleted } => {
            let mut rows = Vec::new();
            for subject in registry.subjects(deleted)? {
                rows.push((subject.clone(), registry.version(&subject, None)?));
            }
            if global.json {
                let entries: Vec<_> = rows
                    .iter()
                    .map(|(s, v)| json!({"subject": s, "latest": v.as_ref().map(|v| v.version), "id": v.as_ref().map(|v| v.id), "schemaType": v.as_ref().map(|v| v.schema_type.name())}))
                    .collect();
                output::print_json(&json!(entries))?;
            } else {
                let mut table = output::Table::new(&["SUBJECT", "LATEST", "ID", "TYPE"]);
                for (subject, latest) in rows {
                    let (version, id, schema_type) = latest.map_or(("deleted".into(), "-".into(), "-".into()), |v| {
                        (
                            v.version.to_string(),
                            v.id.to_string(),
                            v.schema_type.name().to_string(),
                        )
                    });
                    table.row(vec![subject, version, id, schema_type]);
                }
                table.print()?;
            }
        }
        SchemaCommand::Show { subject, version, id } => {
            let version = version.and_then(|v| v.0);
            let shown = match (subject, id) {
                (_, Some(id)) => {
                    let schema = registry.by_id(id)?.ok_or(millrace::Error::SchemaNotFound { id })?;
                    json!({"id": id, "schemaType": schema.schema_type.name(), "schema": schema.schema, "subjects": registry.subjects_of(id)?})
                }
                (Some(subject), None) => {
                    registry.versions(&subject, false)?;
                    let found = registry
                        .version(&subject, version)?
                        .ok_or(millrace::Error::VersionNotFound {
                            subject,
                            version: version.unwrap_or_default(),
                            not_soft_deleted: false,
                        })?;
                    version_json(&found)
                }
                (None, None) => return Err(CliError::usage("name a subject or --id")),
            };
            if global.json {
                output::print_json(&shown)?;
            } else {
                println!(
                    "{}",
                    shown
                        .get("schema")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                );
            }
        }
        SchemaCommand::Check { subject, text, version } => {
            let (schema_type, text) = text.read()?;
            let against = match version {
                None => None,
                Some(VersionArg(v)) => {
                    registry.versions(&subject, false)?;
                    Some(
                        registry
                            .version(&subject, v)?
                            .ok_or(millrace::Error::VersionNotFound {
                                subject: subject.clone(),
                                version: v.unwrap_or_default(),
                                not_soft_deleted: false,
                            })?
                            .version,
                    )
                }
            };
            let report = registry.check_compatibility(&subject, schema_type, &text, against)?;
            let level = registry.compatibility(Some(&subject))?;
            if global.json {
                output::print_json(
                    &json!({"subject": subject, "level": level.name(), "compatible": report.compatible, "messages": report.messages}),
                )?;
            } else if report.compatible {
                println!("compatible with {subject} under {level}");
            } else {
                println!("incompatible with {subject} under {level}:");
                for message in &report.messages {
                    println!("  {message}");
                }
            }
            if !report.compatible {
                return Ok(exit::ERROR);
            }
        }
        SchemaCommand::Delete {
            subject,
            version,
            permanent,
        } => {
            let deleted = match version {
                None => registry.delete_subject(&subject, permanent)?,
                Some(VersionArg(v)) => vec![registry.delete_version(&subject, v, permanent)?],
            };
            if global.json {
                output::print_json(&json!({"subject": subject, "deleted": deleted, "permanent": permanent}))?;
            } else {
                let list: Vec<String> = deleted.iter().map(u32::to_string).collect();
                println!(
                    "{} {subject} version{} {}",
                    if permanent {
                        "permanently deleted"
                    } else {
                        "soft-deleted"
                    },
                    if deleted.len() == 1 { "" } else { "s" },
                    list.join(", ")
                );
            }
        }
        SchemaCommand::Config { subject, set, clear } => {
            if let Some(level) = set {
                registry.set_compatibility(subject.as_deref(), level)?;
            } else if clear {
                registry.clear_compatibility(subject.as_deref())?;
            }
            let level = registry.compatibility(subject.as_deref())?;
            let own = registry.configured_compatibility(subject.as_deref())?;
            if global.json {
                output::print_json(&json!({"subject": subject, "compatibility": level.name(), "set": own.is_some()}))?;
            } else {
                println!(
                    "{}: {level}{}",
                    subject.as_deref().unwrap_or("global"),
                    if own.is_none() { " (default)" } else { "" }
                );
            }
        }
    }
    Ok(exit::OK)
}
