//! The one table from a decoded Kafka request to its handler. Adding an API
//! is a row here and a function in its area's module.

use super::{alter_configs, cluster, configs, fetch, groups, produce, producers, sasl, txn, Conn, Front, Handled};
use crate::kafka::protocol::{Request, RequestHeader};

/// Handles one decoded request, appending its response frame to `out`
/// (acks=0 produce requests append nothing).
pub fn handle(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: Request<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    match request {
        Request::ApiVersions(r) => cluster::api_versions(front, conn, header, r, out),
        Request::Metadata(r) => cluster::metadata(front, conn, header, r, out),
        Request::CreateTopics(r) => cluster::create_topics(front, conn, header, r, out),
        Request::DeleteTopics(r) => cluster::delete_topics(front, conn, header, r, out),
        Request::SaslHandshake(r) => sasl::sasl_handshake(front, conn, header, r, out),
        Request::SaslAuthenticate(r) => sasl::sasl_authenticate(front, conn, header, r, out),
        Request::Produce(r) => produce::produce(front, conn, header, r, out),
        Request::Fetch(r) => fetch::fetch(front, conn, header, r, out),
        Request::ListOffsets(r) => fetch::list_offsets(front, conn, header, r, out),
        Request::InitProducerId(r) => {
            if r.transactional_id.is_some() {
                txn::init_producer_id(front, conn, header, r, out)
            } else {
                producers::init_producer_id(front, conn, header, r, out)
            }
        }
        Request::FindCoordinator(r) => groups::find_coordinator(front, conn, header, r, out),
        Request::JoinGroup(r) => groups::join_group(front, conn, header, r, out),
        Request::SyncGroup(r) => groups::sync_group(front, conn, header, r, out),
        Request::Heartbeat(r) => groups::heartbeat(front, conn, header, r, out),
        Request::LeaveGroup(r) => groups::leave_group(front, conn, header, r, out),
        Request::DescribeGroups(r) => groups::describe_groups(front, conn, header, r, out),
        Request::ListGroups(r) => groups::list_groups(front, conn, header, r, out),
        Request::OffsetCommit(r) => groups::offset_commit(front, conn, header, r, out),
        Request::OffsetFetch(r) => groups::offset_fetch(front, conn, header, r, out),
        Request::AddPartitionsToTxn(r) => txn::add_partitions_to_txn(front, conn, header, r, out),
        Request::AddOffsetsToTxn(r) => txn::add_offsets_to_txn(front, conn, header, r, out),
        Request::EndTxn(r) => txn::end_txn(front, conn, header, r, out),
        Request::TxnOffsetCommit(r) => txn::txn_offset_commit(front, conn, header, r, out),
        Request::DescribeConfigs(r) => configs::describe_configs(front, conn, header, r, out),
        Request::AlterConfigs(r) => alter_configs::alter_configs(front, conn, header, r, out),
        Request::IncrementalAlterConfigs(r) => alter_configs::incremental_alter_configs(front, conn, header, r, out),
    }
}
