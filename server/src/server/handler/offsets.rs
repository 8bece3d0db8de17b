//! Consumer-group offsets: CommitOffsets, ResetOffsets (the listings
//! FetchOffsets, ListGroups, ResetAudit, Lag and their pages, and
//! DeleteGroup, in `server::listing`).

use crate::error_code::WireError;
use crate::messages::{CommitOffsets, ResetOffsets, Response};
use crate::server::convert;
use crate::server::service::{Service, Session};

pub(super) fn commit(service: &Service, session: &Session, commit: CommitOffsets) -> Result<Response, WireError> {
    service.commit_offsets(session, &commit.group, &convert::commits(commit.offsets))?;
    Ok(Response::Empty)
}

pub(super) fn reset(service: &Service, session: &Session, mut reset: ResetOffsets) -> Result<Response, WireError> {
    let scope = convert::reset_scope(&mut reset)?;
    let target = convert::reset_target(reset.target);
    let plan = service.reset_offsets(session, reset.group, scope, target, reset.dry_run, reset.force)?;
    Ok(Response::ResetPlan(convert::reset_plan(plan)))
}
