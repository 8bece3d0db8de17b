//! Contract and schema registry commands on either side: offline the CLI
//! runs them on the data directory, online the server runs the same code
//! (`ContractQuery`, or `ContractChange` for a change, which needs an admin
//! token). Both answer the document `--json` prints.

use super::{remote_error, Remote, Target};
use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::{ContractCall, ContractCommand, Request, Response};
use millrace_server::ClientError;
use serde_json::Value;

/// Run `command` against `--server`, or on `--data` (read-only unless it changes something).
pub fn run_contract_command(global: &GlobalArgs, command: ContractCommand) -> CliResult<Value> {
    let writes = command.changes() && !matches!(command, ContractCommand::Apply { dry_run: true, .. });
    let target = if writes {
        Target::open(global)?
    } else {
        Target::open_read_only(global)?
    };
    let answer = match &target {
        Target::Local(store) => millrace_server::contract_admin::run(store, &command).map_err(CliError::from),
        Target::Remote(remote) => match command {
            ContractCommand::History { topic } => remote_history(remote, topic),
            command => remote_call(remote, command),
        },
    };
    target.close()?;
    answer
}

fn remote_call(remote: &Remote, command: ContractCommand) -> CliResult<Value> {
    let change = command.changes();
    let call = ContractCall { command };
    let request = if change {
        Request::ContractChange(call)
    } else {
        Request::ContractQuery(call)
    };
    let answer = remote.runtime.block_on(remote.client.call(request)).map_err(|e| {
        let denied = matches!(&e, ClientError::Server(w) if w.code == ErrorCode::PermissionDenied);
        let error = remote_error(remote.addr, e);
        if denied && change {
            error.with_hint("contract and schema changes through a server need a token with the admin permission")
        } else {
            error
        }
    })?;
    match answer {
        Response::ContractAnswer(text) => serde_json::from_str(&text).map_err(|e| {
            CliError::new(format!(
                "server {} answered a document that is not JSON: {e}",
                remote.addr
            ))
        }),
        other => Err(remote.unexpected(&other)),
    }
}

/// The whole contract history through the server, page by page
/// (`history_page`, each page within a frame), as one array: what
/// `history` answers on a data directory.
fn remote_history(remote: &Remote, topic: Option<String>) -> CliResult<Value> {
    let mut entries = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let page = remote_call(
            remote,
            ContractCommand::HistoryPage {
                topic: topic.clone(),
                after,
                limit: 0,
            },
        )?;
        if let Some(list) = page.get("entries").and_then(Value::as_array) {
            entries.extend(list.iter().cloned());
        }
        match page.get("next_after").and_then(Value::as_u64) {
            Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
            Some(next) => {
                return Err(CliError::new(format!(
                    "server {} answered a history page whose cursor {next} does not move on",
                    remote.addr
                )))
            }
            None => return Ok(Value::Array(entries)),
        }
    }
}
