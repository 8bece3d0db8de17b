//! `ContractQuery` and `ContractChange`: a contract or schema registry
//! command run on the server's store by the same code as the CLI's on a data
//! directory (`crate::contract_admin`). A change is audited under the
//! connection's actor (token or client name, and peer), followed by what the
//! client said of itself.

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{ContractCall, ContractCommand, Response};
use crate::server::service::{Service, Session};

/// Longest actor recorded in the contract audit (the engine's limit).
const ACTOR_BYTES_MAX: usize = 255;

/// Bytes of a response besides the answer's text: frame header, status, length.
const ANSWER_OVERHEAD_BYTES: usize = 64;

pub(super) fn call(
    service: &Service,
    session: &Session,
    call: ContractCall,
    change: bool,
) -> Result<Response, WireError> {
    let mut command = call.command;
    if !change && command.changes() {
        return Err(WireError::new(
            ErrorCode::InvalidInput,
            "this command changes the contracts or the registry: send it as ContractChange",
        ));
    }
    if let ContractCommand::Apply { actor, .. } | ContractCommand::Remove { actor, .. } = &mut command {
        *actor = server_actor(&session.actor(), actor);
    }
    let answer = match &command {
        // A page fits in a frame, less the listings' headroom.
        ContractCommand::HistoryPage { topic, after, limit } => service.contract_history_page(
            topic.as_deref(),
            *after,
            *limit,
            (service.frame_bytes_max as usize).saturating_sub(crate::listing::LISTING_RESPONSE_OVERHEAD_BYTES as usize),
        ),
        _ => service.contract_command(&command),
    }
    .map_err(|e| WireError::from(&e))?
    .to_string();
    let limit = usize::try_from(service.frame_bytes_max).unwrap_or(usize::MAX);
    if answer.len().saturating_add(ANSWER_OVERHEAD_BYTES) > limit {
        return Err(WireError::new(
            ErrorCode::InvalidInput,
            format!(
                "the answer holds {} bytes, more than a frame carries ({}): walk a history with history_page",
                answer.len(),
                service.frame_bytes_max
            ),
        ));
    }
    Ok(Response::ContractAnswer(answer))
}

/// `who@peer (what the client says)`, cut to the audit's limit.
fn server_actor(session: &str, client: &str) -> String {
    let mut actor = if client.is_empty() {
        session.to_string()
    } else {
        format!("{session} ({})", crate::text::escape(client))
    };
    while actor.len() > ACTOR_BYTES_MAX {
        actor.pop();
    }
    actor
}
