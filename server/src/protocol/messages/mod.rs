//! Requests and responses: opcodes, the `Request`/`Response` enums, and the
//! functions that turn them into frames and back. Layouts in
//! `design/protocol.md` ("Opcodes", "Requests and responses").

pub mod contract;
pub mod damage;
pub mod history;
pub mod members;
pub mod offsets;
pub mod paging;
pub mod produce_frame;
pub mod request;
pub mod response;
pub mod types;

#[cfg(test)]
mod tests;

use crate::error_code::{ErrorCode, WireError};
use crate::frame::{begin_frame, end_frame, extend_frame, Frame, FrameHeader, FLAGS_KNOWN, FLAG_RESPONSE};
use crate::wire::{DecodeError, DecodeResult, Reader, Writer};

pub use contract::*;
pub use damage::*;
pub use history::*;
pub use members::*;
pub use offsets::*;
pub use paging::*;
pub use produce_frame::{ProduceFrame, WireRecord};
pub use request::*;
pub use response::*;
pub use types::*;

macro_rules! opcodes {
    ($($name:ident = $value:expr,)*) => {
        /// Every assigned opcode.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Opcode {
            $($name = $value,)*
        }

        impl Opcode {
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name,)*];

            pub fn from_u16(value: u16) -> Option<Opcode> {
                match value {
                    $($value => Some(Opcode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    Hello = 0x0001,
    Ping = 0x0002,
    CreateTopic = 0x0010,
    DeleteTopic = 0x0011,
    ListTopics = 0x0012,
    DescribeTopic = 0x0013,
    ListTopicsPage = 0x0014,
    DescribeDamage = 0x0015,
    AlterTopic = 0x0016,
    ConfigHistoryPage = 0x0017,
    InitProducer = 0x0020,
    Produce = 0x0021,
    Fetch = 0x0030,
    CommitOffsets = 0x0040,
    FetchOffsets = 0x0041,
    ResetOffsets = 0x0042,
    Lag = 0x0043,
    FailRecord = 0x0044,
    ResetAudit = 0x0045,
    ListGroups = 0x0046,
    ListGroupsPage = 0x0047,
    FetchOffsetsPage = 0x0048,
    DeleteGroup = 0x0049,
    ResetAuditPage = 0x004A,
    LagPage = 0x004B,
    DescribeGroups = 0x004C,
    DeleteGroupOffsets = 0x004D,
    DescribeGroupMembers = 0x004E,
    TxnBegin = 0x0050,
    TxnAppend = 0x0051,
    TxnCommitOffsets = 0x0052,
    TxnDeadLetter = 0x0053,
    TxnCommit = 0x0054,
    TxnAbort = 0x0055,
    DlqList = 0x0060,
    DlqRedrive = 0x0061,
    DlqPurge = 0x0062,
    Stats = 0x0070,
    Flush = 0x0071,
    Status = 0x0072,
    ContractQuery = 0x0080,
    ContractChange = 0x0081,
}

impl Opcode {
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// A decoded request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Hello(Hello),
    Ping,
    CreateTopic(CreateTopic),
    DeleteTopic(TopicName),
    ListTopics,
    DescribeTopic(TopicName),
    ListTopicsPage(NamesPage),
    DescribeDamage(DescribeDamage),
    AlterTopic(AlterTopic),
    ConfigHistoryPage(ConfigHistoryPage),
    InitProducer(InitProducer),
    Produce(Produce),
    Fetch(Fetch),
    CommitOffsets(CommitOffsets),
    FetchOffsets(GroupQuery),
    ResetOffsets(ResetOffsets),
    Lag(GroupQuery),
    FailRecord(FailRecord),
    ResetAudit(ResetAudit),
    ListGroups,
    ListGroupsPage(NamesPage),
    FetchOffsetsPage(OffsetsPage),
    DeleteGroup(DeleteGroup),
    ResetAuditPage(ResetAuditPage),
    LagPage(LagPage),
    DescribeGroups(DescribeGroups),
    DeleteGroupOffsets(DeleteGroupOffsets),
    DescribeGroupMembers(DescribeGroupMembers),
    TxnBegin(TxnBegin),
    TxnAppend(TxnAppend),
    TxnCommitOffsets(TxnCommitOffsets),
    TxnDeadLetter(TxnDeadLetter),
    TxnCommit(TxnEnd),
    TxnAbort(TxnEnd),
    DlqList(DlqList),
    DlqRedrive(DlqRedrive),
    DlqPurge(DlqPurge),
    Stats,
    Flush,
    Status,
    /// A contract or schema command that changes nothing.
    ContractQuery(ContractCall),
    /// A contract or schema command that changes something (admin).
    ContractChange(ContractCall),
}

impl Request {
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Hello(_) => Opcode::Hello,
            Request::Ping => Opcode::Ping,
            Request::CreateTopic(_) => Opcode::CreateTopic,
            Request::DeleteTopic(_) => Opcode::DeleteTopic,
            Request::ListTopics => Opcode::ListTopics,
            Request::DescribeTopic(_) => Opcode::DescribeTopic,
            Request::ListTopicsPage(_) => Opcode::ListTopicsPage,
            Request::DescribeDamage(_) => Opcode::DescribeDamage,
            Request::AlterTopic(_) => Opcode::AlterTopic,
            Request::ConfigHistoryPage(_) => Opcode::ConfigHistoryPage,
            Request::InitProducer(_) => Opcode::InitProducer,
            Request::Produce(_) => Opcode::Produce,
            Request::Fetch(_) => Opcode::Fetch,
            Request::CommitOffsets(_) => Opcode::CommitOffsets,
            Request::FetchOffsets(_) => Opcode::FetchOffsets,
            Request::ResetOffsets(_) => Opcode::ResetOffsets,
            Request::Lag(_) => Opcode::Lag,
            Request::FailRecord(_) => Opcode::FailRecord,
            Request::ResetAudit(_) => Opcode::ResetAudit,
            Request::ListGroups => Opcode::ListGroups,
            Request::ListGroupsPage(_) => Opcode::ListGroupsPage,
            Request::FetchOffsetsPage(_) => Opcode::FetchOffsetsPage,
            Request::DeleteGroup(_) => Opcode::DeleteGroup,
            Request::ResetAuditPage(_) => Opcode::ResetAuditPage,
            Request::LagPage(_) => Opcode::LagPage,
            Request::DescribeGroups(_) => Opcode::DescribeGroups,
            Request::DeleteGroupOffsets(_) => Opcode::DeleteGroupOffsets,
            Request::DescribeGroupMembers(_) => Opcode::DescribeGroupMembers,
            Request::TxnBegin(_) => Opcode::TxnBegin,
            Request::TxnAppend(_) => Opcode::TxnAppend,
            Request::TxnCommitOffsets(_) => Opcode::TxnCommitOffsets,
            Request::TxnDeadLetter(_) => Opcode::TxnDeadLetter,
            Request::TxnCommit(_) => Opcode::TxnCommit,
            Request::TxnAbort(_) => Opcode::TxnAbort,
            Request::DlqList(_) => Opcode::DlqList,
            Request::DlqRedrive(_) => Opcode::DlqRedrive,
            Request::DlqPurge(_) => Opcode::DlqPurge,
            Request::Stats => Opcode::Stats,
            Request::Flush => Opcode::Flush,
            Request::Status => Opcode::Status,
            Request::ContractQuery(_) => Opcode::ContractQuery,
            Request::ContractChange(_) => Opcode::ContractChange,
        }
    }

    fn encode_body(&self, w: &mut Writer) {
        match self {
            Request::Ping
            | Request::ListTopics
            | Request::ListGroups
            | Request::Stats
            | Request::Flush
            | Request::Status => {}
            Request::AlterTopic(b) => b.encode(w),
            Request::ConfigHistoryPage(b) => b.encode(w),
            Request::Hello(b) => b.encode(w),
            Request::CreateTopic(b) => b.encode(w),
            Request::DeleteTopic(b) | Request::DescribeTopic(b) => b.encode(w),
            Request::InitProducer(b) => b.encode(w),
            Request::Produce(b) => b.encode(w),
            Request::Fetch(b) => b.encode(w),
            Request::CommitOffsets(b) => b.encode(w),
            Request::FetchOffsets(b) | Request::Lag(b) => b.encode(w),
            Request::ResetOffsets(b) => b.encode(w),
            Request::FailRecord(b) => b.encode(w),
            Request::ResetAudit(b) => b.encode(w),
            Request::ListTopicsPage(b) | Request::ListGroupsPage(b) => b.encode(w),
            Request::FetchOffsetsPage(b) => b.encode(w),
            Request::DescribeDamage(b) => b.encode(w),
            Request::DeleteGroup(b) => b.encode(w),
            Request::ResetAuditPage(b) => b.encode(w),
            Request::LagPage(b) => b.encode(w),
            Request::DescribeGroups(b) => b.encode(w),
            Request::DescribeGroupMembers(b) => b.encode(w),
            Request::DeleteGroupOffsets(b) => b.encode(w),
            Request::TxnBegin(b) => b.encode(w),
            Request::TxnAppend(b) => b.encode(w),
            Request::TxnCommitOffsets(b) => b.encode(w),
            Request::TxnDeadLetter(b) => b.encode(w),
            Request::TxnCommit(b) | Request::TxnAbort(b) => b.encode(w),
            Request::DlqList(b) => b.encode(w),
            Request::DlqRedrive(b) => b.encode(w),
            Request::DlqPurge(b) => b.encode(w),
            Request::ContractQuery(b) | Request::ContractChange(b) => b.encode(w),
        }
    }

    fn decode_body(opcode: Opcode, r: &mut Reader<'_>) -> DecodeResult<Request> {
        Ok(match opcode {
            Opcode::Hello => Request::Hello(Hello::decode(r)?),
            Opcode::Ping => Request::Ping,
            Opcode::CreateTopic => Request::CreateTopic(CreateTopic::decode(r)?),
            Opcode::DeleteTopic => Request::DeleteTopic(TopicName::decode(r)?),
            Opcode::ListTopics => Request::ListTopics,
            Opcode::ListTopicsPage => Request::ListTopicsPage(NamesPage::decode(r)?),
            Opcode::DescribeTopic => Request::DescribeTopic(TopicName::decode(r)?),
            Opcode::DescribeDamage => Request::DescribeDamage(DescribeDamage::decode(r)?),
            Opcode::AlterTopic => Request::AlterTopic(AlterTopic::decode(r)?),
            Opcode::ConfigHistoryPage => Request::ConfigHistoryPage(ConfigHistoryPage::decode(r)?),
            Opcode::InitProducer => Request::InitProducer(InitProducer::decode(r)?),
            Opcode::Produce => Request::Produce(Produce::decode(r)?),
            Opcode::Fetch => Request::Fetch(Fetch::decode(r)?),
            Opcode::CommitOffsets => Request::CommitOffsets(CommitOffsets::decode(r)?),
            Opcode::FetchOffsets => Request::FetchOffsets(GroupQuery::decode(r)?),
            Opcode::ResetOffsets => Request::ResetOffsets(ResetOffsets::decode(r)?),
            Opcode::Lag => Request::Lag(GroupQuery::decode(r)?),
            Opcode::FailRecord => Request::FailRecord(FailRecord::decode(r)?),
            Opcode::ResetAudit => Request::ResetAudit(ResetAudit::decode(r)?),
            Opcode::ListGroups => Request::ListGroups,
            Opcode::ListGroupsPage => Request::ListGroupsPage(NamesPage::decode(r)?),
            Opcode::FetchOffsetsPage => Request::FetchOffsetsPage(OffsetsPage::decode(r)?),
            Opcode::DeleteGroup => Request::DeleteGroup(DeleteGroup::decode(r)?),
            Opcode::ResetAuditPage => Request::ResetAuditPage(ResetAuditPage::decode(r)?),
            Opcode::LagPage => Request::LagPage(LagPage::decode(r)?),
            Opcode::DescribeGroups => Request::DescribeGroups(DescribeGroups::decode(r)?),
            Opcode::DescribeGroupMembers => Request::DescribeGroupMembers(DescribeGroupMembers::decode(r)?),
            Opcode::DeleteGroupOffsets => Request::DeleteGroupOffsets(DeleteGroupOffsets::decode(r)?),
            Opcode::TxnBegin => Request::TxnBegin(TxnBegin::decode(r)?),
            Opcode::TxnAppend => Request::TxnAppend(TxnAppend::decode(r)?),
            Opcode::TxnCommitOffsets => Request::TxnCommitOffsets(TxnCommitOffsets::decode(r)?),
            Opcode::TxnDeadLetter => Request::TxnDeadLetter(TxnDeadLetter::decode(r)?),
            Opcode::TxnCommit => Request::TxnCommit(TxnEnd::decode(r)?),
            Opcode::TxnAbort => Request::TxnAbort(TxnEnd::decode(r)?),
            Opcode::DlqList => Request::DlqList(DlqList::decode(r)?),
            Opcode::DlqRedrive => Request::DlqRedrive(DlqRedrive::decode(r)?),
            Opcode::DlqPurge => Request::DlqPurge(DlqPurge::decode(r)?),
            Opcode::Stats => Request::Stats,
            Opcode::Flush => Request::Flush,
            Opcode::Status => Request::Status,
            Opcode::ContractQuery => Request::ContractQuery(ContractCall::decode(r)?),
            Opcode::ContractChange => Request::ContractChange(ContractCall::decode(r)?),
        })
    }
}

/// A successful response body. Which variant answers which opcode is fixed by
/// [`Response::decode_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Hello(HelloResponse),
    /// Ping, CreateTopic, DeleteTopic, CommitOffsets, TxnAppend, TxnCommitOffsets, TxnDeadLetter, TxnAbort, Flush.
    Empty,
    Topics(Vec<String>),
    TopicDescription(TopicDescription),
    ProducerInit(ProducerInit),
    Produced(Produced),
    Fetched(Fetched),
    /// Server side only: the answer to `Fetch`, encoded from record views.
    /// Decoding always yields [`Response::Fetched`].
    FetchedEncoded(FetchedEncoded),
    Offsets(Vec<CommittedOffset>),
    ResetPlan(ResetPlan),
    Lag(Vec<PartitionLag>),
    RecordFailed(RecordFailed),
    ResetAudit(Vec<ResetAuditEntry>),
    Groups(Vec<String>),
    /// ListTopicsPage, ListGroupsPage.
    NamesPage(NamesPaged),
    OffsetsPage(OffsetsPaged),
    /// DescribeDamage.
    Damage(DamageReport),
    ResetAuditPage(ResetAuditPaged),
    LagPage(LagPaged),
    TxnBegun(TxnBegun),
    TxnCommitted(TxnCommitted),
    DlqListing(DlqListing),
    Redrive(RedriveReport),
    Purged(u64),
    Stats(Vec<Stat>),
    /// AlterTopic.
    TopicAltered(TopicAltered),
    /// ConfigHistoryPage.
    ConfigHistoryPage(ConfigHistoryPaged),
    /// Status: name/value pairs (design/protocol.md, "Status").
    Status(Vec<ConfigEntry>),
    GroupStates(Vec<GroupState>),
    /// DescribeGroupMembers: a prefix of the requested groups.
    GroupMembers(Vec<GroupMembers>),
    /// ContractQuery, ContractChange: the command's answer, a JSON document.
    ContractAnswer(String),
}

impl Response {
    fn encode_body(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Hello(b) => b.encode(w),
            Response::Topics(names) => write_list(w, names),
            Response::TopicDescription(b) => b.encode(w),
            Response::ProducerInit(b) => b.encode(w),
            Response::Produced(b) => b.encode(w),
            Response::Fetched(b) => b.encode(w),
            Response::FetchedEncoded(b) => {
                b.encode_head(w);
                w.buf.extend_from_slice(&b.records);
            }
            Response::Offsets(list) => write_list(w, list),
            Response::ResetPlan(b) => b.encode(w),
            Response::Lag(list) => write_list(w, list),
            Response::RecordFailed(b) => b.encode(w),
            Response::ResetAudit(list) => write_list(w, list),
            Response::Groups(names) => write_list(w, names),
            Response::NamesPage(b) => b.encode(w),
            Response::OffsetsPage(b) => b.encode(w),
            Response::Damage(b) => b.encode(w),
            Response::ResetAuditPage(b) => b.encode(w),
            Response::LagPage(b) => b.encode(w),
            Response::TxnBegun(b) => b.encode(w),
            Response::TxnCommitted(b) => b.encode(w),
            Response::DlqListing(b) => b.encode(w),
            Response::Redrive(b) => b.encode(w),
            Response::Purged(purged) => w.u64(*purged),
            Response::Stats(list) => write_list(w, list),
            Response::TopicAltered(b) => b.encode(w),
            Response::ConfigHistoryPage(b) => b.encode(w),
            Response::Status(list) => write_list(w, list),
            Response::GroupStates(list) => write_list(w, list),
            Response::GroupMembers(list) => write_list(w, list),
            Response::ContractAnswer(text) => w.string(text),
        }
    }

    /// Decode the success fields of a response to `opcode`.
    pub fn decode_body(opcode: Opcode, r: &mut Reader<'_>) -> DecodeResult<Response> {
        Ok(match opcode {
            Opcode::Hello => Response::Hello(HelloResponse::decode(r)?),
            Opcode::Ping
            | Opcode::CreateTopic
            | Opcode::DeleteTopic
            | Opcode::CommitOffsets
            | Opcode::TxnAppend
            | Opcode::TxnCommitOffsets
            | Opcode::TxnDeadLetter
            | Opcode::TxnAbort
            | Opcode::Flush => Response::Empty,
            Opcode::ListTopics => Response::Topics(read_list(r, "topics")?),
            Opcode::DescribeTopic => Response::TopicDescription(TopicDescription::decode(r)?),
            Opcode::InitProducer => Response::ProducerInit(ProducerInit::decode(r)?),
            Opcode::Produce => Response::Produced(Produced::decode(r)?),
            Opcode::Fetch => Response::Fetched(Fetched::decode(r)?),
            Opcode::FetchOffsets => Response::Offsets(read_list(r, "offsets")?),
            Opcode::ResetOffsets => Response::ResetPlan(ResetPlan::decode(r)?),
            Opcode::Lag => Response::Lag(read_list(r, "lag")?),
            Opcode::FailRecord => Response::RecordFailed(RecordFailed::decode(r)?),
            Opcode::ResetAudit => Response::ResetAudit(read_list(r, "reset_audit")?),
            Opcode::ListGroups => Response::Groups(read_list(r, "groups")?),
            Opcode::ListTopicsPage | Opcode::ListGroupsPage => Response::NamesPage(NamesPaged::decode(r)?),
            Opcode::FetchOffsetsPage => Response::OffsetsPage(OffsetsPaged::decode(r)?),
            Opcode::DescribeDamage => Response::Damage(DamageReport::decode(r)?),
            // The offsets it removed.
            Opcode::DeleteGroup | Opcode::DeleteGroupOffsets => Response::Offsets(read_list(r, "deleted")?),
            Opcode::ResetAuditPage => Response::ResetAuditPage(ResetAuditPaged::decode(r)?),
            Opcode::LagPage => Response::LagPage(LagPaged::decode(r)?),
            Opcode::TxnBegin => Response::TxnBegun(TxnBegun::decode(r)?),
            Opcode::TxnCommit => Response::TxnCommitted(TxnCommitted::decode(r)?),
            Opcode::DlqList => Response::DlqListing(DlqListing::decode(r)?),
            Opcode::DlqRedrive => Response::Redrive(RedriveReport::decode(r)?),
            Opcode::DlqPurge => Response::Purged(r.u64("purged")?),
            Opcode::Stats => Response::Stats(read_list(r, "stats")?),
            Opcode::AlterTopic => Response::TopicAltered(TopicAltered::decode(r)?),
            Opcode::ConfigHistoryPage => Response::ConfigHistoryPage(ConfigHistoryPaged::decode(r)?),
            Opcode::Status => Response::Status(read_list(r, "status")?),
            Opcode::DescribeGroups => Response::GroupStates(read_list(r, "group_states")?),
            Opcode::DescribeGroupMembers => Response::GroupMembers(read_list(r, "group_members")?),
            Opcode::ContractQuery | Opcode::ContractChange => Response::ContractAnswer(r.string("answer")?),
        })
    }
}

/// Append a request frame to `out`.
pub fn encode_request_into(out: &mut Vec<u8>, request_id: u32, request: &Request) {
    let start = begin_frame(out, FrameHeader::request(request.opcode().code(), request_id));
    let mut w = Writer::with_buf(std::mem::take(out));
    request.encode_body(&mut w);
    *out = w.into_inner();
    end_frame(out, start);
}

/// Append a `Produce` request frame (no producer stamp) for borrowed
/// records: the bytes [`encode_request_into`] writes for the same
/// `Request::Produce`, without the caller cloning its records into one.
pub fn encode_produce_into(
    out: &mut Vec<u8>,
    request_id: u32,
    topic: &str,
    partition: u32,
    records: &[millrace::Record],
) {
    let start = begin_frame(out, FrameHeader::request(Opcode::Produce.code(), request_id));
    let mut w = Writer::with_buf(std::mem::take(out));
    Produce::encode_borrowed(&mut w, topic, partition, None, records);
    *out = w.into_inner();
    end_frame(out, start);
}

pub fn encode_request(request_id: u32, request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request_into(&mut out, request_id, request);
    out
}

/// Decode a request frame. The caller answers an error with the frame's
/// request id and closes the connection.
pub fn decode_request(frame: &Frame) -> DecodeResult<Request> {
    let opcode = request_opcode(frame.header)?;
    let mut r = Reader::new(&frame.body);
    let request = Request::decode_body(opcode, &mut r)?;
    r.finish()?;
    Ok(request)
}

/// The opcode of a request frame's header: known, with known flags.
fn request_opcode(header: FrameHeader) -> DecodeResult<Opcode> {
    if header.flags & !FLAGS_KNOWN != 0 || header.is_response() {
        return Err(DecodeError::BadFlags { flags: header.flags });
    }
    Opcode::from_u16(header.opcode).ok_or(DecodeError::UnknownOpcode { opcode: header.opcode })
}

/// A request as the server's native front executes it: a `Produce` keeps
/// its frame body and appends its records from there ([`ProduceFrame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Request(Request),
    Produce(ProduceFrame),
}

impl Incoming {
    pub fn opcode(&self) -> Opcode {
        match self {
            Incoming::Request(request) => request.opcode(),
            Incoming::Produce(_) => Opcode::Produce,
        }
    }
}

/// [`decode_request`], keeping a `Produce`'s body (the same checks and
/// errors).
pub fn decode_incoming(frame: Frame) -> DecodeResult<Incoming> {
    if request_opcode(frame.header)? == Opcode::Produce {
        return ProduceFrame::decode(frame.body).map(Incoming::Produce);
    }
    decode_request(&frame).map(Incoming::Request)
}

/// Append a response frame (success or error) to `out`. `opcode` is the raw
/// opcode of the request (0 for errors not tied to a request).
pub fn encode_response_into(out: &mut Vec<u8>, opcode: u16, request_id: u32, result: &Result<Response, WireError>) {
    let start = begin_frame(out, FrameHeader::response(opcode, request_id));
    let mut w = Writer::with_buf(std::mem::take(out));
    match result {
        Ok(response) => {
            w.u16(0);
            response.encode_body(&mut w);
        }
        Err(error) => {
            w.u16(error.code.code());
            error.encode_fields(&mut w);
        }
    }
    *out = w.into_inner();
    end_frame(out, start);
}

/// [`encode_response_into`], except that the records of a
/// [`Response::FetchedEncoded`] are moved out of `result` instead of copied
/// into `out`: the frame in `out` counts them in its length, and the caller
/// sends the returned bytes right after it (empty for any other response).
/// Returns the frame's length field.
pub fn encode_response_split(
    out: &mut Vec<u8>,
    opcode: u16,
    request_id: u32,
    result: &mut Result<Response, WireError>,
) -> (u32, Vec<u8>) {
    let tail = match result {
        Ok(Response::FetchedEncoded(fetched)) => std::mem::take(&mut fetched.records),
        _ => Vec::new(),
    };
    let start = out.len();
    encode_response_into(out, opcode, request_id, result);
    let length = extend_frame(out, start, tail.len());
    (length, tail)
}

pub fn encode_response(opcode: u16, request_id: u32, result: &Result<Response, WireError>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_response_into(&mut out, opcode, request_id, result);
    out
}

/// Decode a response frame: the outer `Err` means the frame itself is
/// malformed, the inner one is an error the server answered.
pub fn decode_response(frame: &Frame) -> DecodeResult<Result<Response, WireError>> {
    decode_response_parts(frame.header, &frame.body)
}

/// [`decode_response`] of a frame given as its header and body, wherever the
/// body is (the blocking client decodes it in its read buffer).
pub fn decode_response_parts(header: FrameHeader, body: &[u8]) -> DecodeResult<Result<Response, WireError>> {
    if header.flags != FLAG_RESPONSE {
        return Err(DecodeError::BadFlags { flags: header.flags });
    }
    let mut r = Reader::new(body);
    let status = r.u16("status")?;
    let result = if status != 0 {
        Err(WireError::decode_fields(status, &mut r)?)
    } else {
        // Opcode 0 carries only errors (see "Frame" in design/protocol.md).
        let opcode = Opcode::from_u16(header.opcode).ok_or(DecodeError::UnknownOpcode { opcode: header.opcode })?;
        Ok(Response::decode_body(opcode, &mut r)?)
    };
    r.finish()?;
    Ok(result)
}

/// Decode a response to a `Fetch` as a [`FetchedView`]: the frame's body is
/// kept and the records are read in place. Accepts exactly the frames
/// [`decode_response`] accepts with the `Fetch` opcode (errors included).
pub fn decode_fetch_response_view(frame: Frame) -> DecodeResult<Result<FetchedView, WireError>> {
    if frame.header.flags != FLAG_RESPONSE {
        return Err(DecodeError::BadFlags {
            flags: frame.header.flags,
        });
    }
    let mut r = Reader::new(&frame.body);
    let status = r.u16("status")?;
    if status != 0 {
        let error = WireError::decode_fields(status, &mut r)?;
        r.finish()?;
        return Ok(Err(error));
    }
    if frame.header.opcode != Opcode::Fetch.code() {
        return Err(DecodeError::InvalidValue {
            field: "opcode",
            detail: format!("expected the Fetch opcode, got {:#06x}", frame.header.opcode),
        });
    }
    FetchedView::parse(frame.body, 2).map(Ok)
}

/// The error code to answer a malformed request with.
pub fn decode_error_code(error: &DecodeError) -> ErrorCode {
    match error {
        DecodeError::UnknownOpcode { .. } => ErrorCode::UnknownOpcode,
        _ => ErrorCode::Malformed,
    }
}
