//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320), upstream
//! `SendMessageProcessor` (protocol.md §2.2).
//!
//! Two halves:
//! - [`front`] runs on the shard that received the request: `msgCheck` against the read-only
//!   topic table (auto-creating the topic from `TBW102` on the control-plane shard when
//!   allowed), the queue choice (random for `queueId < 0`), the `%RETRY%` to `%DLQ%` redirect,
//!   the stored properties (`CLUSTER` added, `WAIT` dropped for single messages as 4.9.8
//!   does) and the born host; then it stores on this shard when it owns the queue, or
//!   forwards an internal append to the queue's owner shard;
//! - [`append`] runs on the owner shard for a forwarded send; it and the local path share one
//!   store step, which stores the message(s) (`append_one` for a single message, no vectors)
//!   and builds the reply
//!   (offset msgIds comma-joined for a batch, queue id and first queue offset, `MSG_REGION`
//!   and `TRACE_ON`). A FLUSH_DISK_TIMEOUT reply still means the message is stored.
//!
//! A batch is code 320, or code 10/310 whose `batch` field parses as `true`; the C++ client's
//! `"batch":"1"` parses as false (as Java's `Boolean.parseBoolean`) and is stored as ONE
//! message (real-clients.md Q4).

use std::rc::Rc;

use rmq_engine::{AppendError, MessageInput, PutStatus};
use rmq_protocol::body::{perm, JsonBody, TopicConfig, TopicFilterType};
use rmq_protocol::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use rmq_protocol::message::{batch, id, properties, sysflag};
use rmq_protocol::RemotingCommand;

use crate::broker::data::DataPlane;
use crate::broker::dispatch::internal;
use crate::broker::schedule;
use crate::broker::topics::{validate_topic_name, DLQ_TOPIC_PREFIX, RETRY_TOPIC_PREFIX};
use crate::broker::Broker;
use crate::shard::{queue_owner_shard, ConnectionInfo, ServiceKind};
use crate::wire::{error, header_error, request_code, response_code, SYSTEM_BUSY_OVERLOAD_REMARK};

/// Topics producers may not send to (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
];

/// Java's suffix on "not found" remarks (`FAQUrl.suggestTodo`).
const FAQ_SUGGESTION: &str =
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

/// Keys of the internal append request (mesh only, never on the wire).
mod key {
    pub const TOPIC: &str = "topic";
    pub const QUEUE_ID: &str = "queueId";
    pub const SYS_FLAG: &str = "sysFlag";
    pub const BORN_TIMESTAMP: &str = "bornTimestamp";
    pub const FLAG: &str = "flag";
    pub const PROPERTIES: &str = "properties";
    pub const RECONSUME_TIMES: &str = "reconsumeTimes";
    pub const BATCH: &str = "batch";
    pub const BORN_HOST: &str = "bornHost";
}

fn busy(cmd: &RemotingCommand) -> RemotingCommand {
    error(cmd, response_code::SYSTEM_BUSY, SYSTEM_BUSY_OVERLOAD_REMARK)
}

/// Whether this send carries a batch body.
fn is_batch(code: i32, h: &SendMessageRequestHeader) -> bool {
    code == request_code::SEND_BATCH_MESSAGE || h.batch == Some(true)
}

/// Find `topic` in the local copy, or have the control-plane shard create it (auto-create
/// from the default topic, a `%RETRY%` topic with 1 queue, a `%DLQ%` topic with 1 queue).
pub async fn find_or_create_topic(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    topic: &str,
    default_topic: &str,
    default_queue_nums: i32,
) -> Result<Option<TopicConfig>, ()> {
    if let Some(cfg) = broker.snapshot().topics.get(topic) {
        return Ok(Some(cfg.clone()));
    }
    let req = internal::ensure_topic_request(topic, default_topic, default_queue_nums);
    match broker
        .shard
        .call_owner(ServiceKind::Broker, conn.clone(), req)
        .await?
    {
        Some(resp) if resp.code == response_code::SUCCESS => Ok(resp
            .body
            .as_deref()
            .and_then(|b| TopicConfig::decode(b).ok())),
        _ => Ok(None),
    }
}

/// What the owner shard stores: everything of the record but what the store assigns.
pub struct AppendRequest {
    /// Topic to store into.
    pub topic: String,
    /// Queue (already chosen).
    pub queue_id: i32,
    /// Message sysFlag.
    pub sys_flag: i32,
    /// Born time (ms).
    pub born_timestamp: i64,
    /// User flag.
    pub flag: i32,
    /// Stored properties string.
    pub properties: String,
    /// Reconsume times.
    pub reconsume_times: i32,
    /// Whether the body is a batch body.
    pub batch: bool,
    /// The producer's address.
    pub born_host: std::net::SocketAddr,
}

impl AppendRequest {
    /// The internal APPEND request carrying `template`'s body, opaque and serialize type.
    /// Built field by field: the template's own extFields and remark are not needed, and
    /// numbers are written into the map's arena without temporary strings.
    pub fn into_command(self, template: &RemotingCommand) -> RemotingCommand {
        let mut ext = rmq_protocol::ExtFields::with_capacities(
            9,
            self.topic.len() + self.properties.len() + 128,
        );
        ext.insert(key::TOPIC, &self.topic);
        ext.insert_display(key::QUEUE_ID, self.queue_id);
        ext.insert_display(key::SYS_FLAG, self.sys_flag);
        ext.insert_display(key::BORN_TIMESTAMP, self.born_timestamp);
        ext.insert_display(key::FLAG, self.flag);
        ext.insert(key::PROPERTIES, &self.properties);
        ext.insert_display(key::RECONSUME_TIMES, self.reconsume_times);
        ext.insert_display(key::BATCH, self.batch);
        ext.insert_display(key::BORN_HOST, self.born_host);
        RemotingCommand {
            code: internal::APPEND,
            language: template.language,
            version: template.version,
            opaque: template.opaque,
            flag: template.flag,
            remark: None,
            ext_fields: ext,
            has_ext_fields: true,
            serialize_type: template.serialize_type,
            body: template.body.clone(),
        }
    }

    fn view(&self) -> AppendView<'_> {
        AppendView {
            topic: &self.topic,
            queue_id: self.queue_id,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            flag: self.flag,
            properties: &self.properties,
            reconsume_times: self.reconsume_times,
            batch: self.batch,
            born_host: self.born_host,
        }
    }
}

/// An append as the owner shard stores it, borrowed from an [`AppendRequest`] (the receiving
/// shard owns the queue) or from an internal APPEND command (forwarded over the mesh).
struct AppendView<'a> {
    topic: &'a str,
    queue_id: i32,
    sys_flag: i32,
    born_timestamp: i64,
    flag: i32,
    properties: &'a str,
    reconsume_times: i32,
    batch: bool,
    born_host: std::net::SocketAddr,
}

impl<'a> AppendView<'a> {
    /// Read an internal APPEND command; `None` if a field is missing or malformed.
    fn of_command(cmd: &'a RemotingCommand) -> Option<Self> {
        Some(AppendView {
            topic: cmd.ext_fields.get(key::TOPIC)?,
            queue_id: field(cmd, key::QUEUE_ID)?,
            sys_flag: field(cmd, key::SYS_FLAG)?,
            born_timestamp: field(cmd, key::BORN_TIMESTAMP)?,
            flag: field(cmd, key::FLAG)?,
            properties: cmd.ext_fields.get(key::PROPERTIES).unwrap_or_default(),
            reconsume_times: field(cmd, key::RECONSUME_TIMES)?,
            batch: field(cmd, key::BATCH)?,
            born_host: field(cmd, key::BORN_HOST)?,
        })
    }
}

/// The stored properties of a single message: `CLUSTER` added, `WAIT` removed. Written
/// straight into one string (what `properties::encode` of the kept entries gives).
fn stored_properties(props: &str, cluster: &str) -> String {
    let mut out = String::with_capacity(props.len() + cluster.len() + 10);
    for (name, value) in properties::iter(props) {
        if name != "WAIT" && name != "CLUSTER" {
            out.push_str(name);
            out.push(properties::NAME_VALUE_SEPARATOR);
            out.push_str(value);
            out.push(properties::PROPERTY_SEPARATOR);
        }
    }
    out.push_str("CLUSTER");
    out.push(properties::NAME_VALUE_SEPARATOR);
    out.push_str(cluster);
    out.push(properties::PROPERTY_SEPARATOR);
    out
}

/// The receiving shard's half: validate, choose the queue, forward the append.
pub async fn front(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_send_header() {
        Ok(h) => h,
        Err(e) => return header_error(&cmd, &e),
    };
    let config = &broker.config;
    if !perm::is_writeable(i32::try_from(config.broker_permission).unwrap_or(0)) {
        return error(
            &cmd,
            response_code::NO_PERMISSION,
            &format!(
                "the broker[{}] sending message is forbidden",
                config.broker_ip1
            ),
        );
    }
    if let Err(e) = validate_topic_name(&h.topic) {
        return error(&cmd, response_code::INVALID_PARAMETER, &e.to_string());
    }
    if NOT_ALLOWED_SEND_TOPICS.contains(&h.topic.as_str()) {
        return error(
            &cmd,
            response_code::NO_PERMISSION,
            &format!("Sending message to topic[{}] is forbidden.", h.topic),
        );
    }
    let batch = is_batch(cmd.code, &h);
    if batch && h.topic.starts_with(RETRY_TOPIC_PREFIX) {
        return error(
            &cmd,
            response_code::MESSAGE_ILLEGAL,
            &format!("batch request does not support retry group {}", h.topic),
        );
    }
    let Ok(topic_cfg) = find_or_create_topic(
        broker,
        conn,
        &h.topic,
        &h.default_topic,
        h.default_topic_queue_nums,
    )
    .await
    else {
        return busy(&cmd);
    };
    let Some(mut topic_cfg) = topic_cfg else {
        return error(
            &cmd,
            response_code::TOPIC_NOT_EXIST,
            &format!(
                "topic[{}] not exist, apply first please!{FAQ_SUGGESTION}",
                h.topic
            ),
        );
    };
    if !perm::is_writeable(topic_cfg.perm) {
        return error(
            &cmd,
            response_code::NO_PERMISSION,
            &format!("the topic[{}] sending message is forbidden", h.topic),
        );
    }
    let queues = topic_cfg.write_queue_nums.max(topic_cfg.read_queue_nums);
    if h.queue_id >= queues {
        return error(
            &cmd,
            response_code::INVALID_PARAMETER,
            &format!(
                "request queueId[{}] is illegal, TopicConfig [{}] Producer: {}",
                h.queue_id,
                String::from_utf8_lossy(&topic_cfg.encode()),
                conn.peer
            ),
        );
    }
    let mut topic = h.topic.clone();
    let mut queue_id = if h.queue_id < 0 {
        random_queue(topic_cfg.write_queue_nums)
    } else {
        h.queue_id
    };
    let reconsume_times = h.reconsume_times.unwrap_or(0);
    // %RETRY%<group> past its max reconsume times goes to %DLQ%<group>.
    if let Some(group) = h.topic.strip_prefix(RETRY_TOPIC_PREFIX) {
        let snapshot = broker.snapshot();
        let Some(group_cfg) = snapshot.groups.get(group) else {
            return error(
                &cmd,
                response_code::SUBSCRIPTION_GROUP_NOT_EXIST,
                &format!("subscription group not exist, {group}{FAQ_SUGGESTION}"),
            );
        };
        let max = if cmd.version >= rmq_protocol::command::version::V3_4_9 {
            h.max_reconsume_times.unwrap_or(group_cfg.retry_max_times)
        } else {
            group_cfg.retry_max_times
        };
        if reconsume_times >= max {
            topic = format!("{DLQ_TOPIC_PREFIX}{group}");
            let Ok(dlq) = find_or_create_topic(broker, conn, &topic, "", 1).await else {
                return busy(&cmd);
            };
            let Some(dlq) = dlq else {
                return error(
                    &cmd,
                    response_code::SYSTEM_ERROR,
                    &format!("topic[{topic}] not exist"),
                );
            };
            topic_cfg = dlq;
            queue_id = 0;
        }
    }
    let mut sys_flag = h.sys_flag;
    if topic_cfg.topic_filter_type == TopicFilterType::MultiTag {
        sys_flag |= sysflag::message::MULTI_TAGS;
    }
    let stored_props = if batch {
        h.properties.clone().unwrap_or_default()
    } else {
        stored_properties(
            h.properties.as_deref().unwrap_or_default(),
            &config.broker_cluster_name,
        )
    };
    if batch && schedule::delay_level(&stored_props) > 0 {
        // Upstream's `putMessages` refuses a delayed batch.
        return error(
            &cmd,
            response_code::MESSAGE_ILLEGAL,
            &message_illegal_remark(config),
        );
    }
    let mut append = AppendRequest {
        topic,
        queue_id,
        sys_flag,
        born_timestamp: h.born_timestamp,
        flag: h.flag,
        properties: stored_props,
        reconsume_times,
        batch,
        born_host: conn.peer,
    };
    schedule::redirect_delayed(&mut append, config.message_delay_levels.len());
    // The queue id fits a u32: it was checked against the topic's (or level's) queue count.
    let owner = queue_owner_shard(
        &append.topic,
        u32::try_from(append.queue_id).unwrap_or(0),
        broker.shard.count,
    );
    let answer = if owner == broker.shard.id {
        // This shard owns the queue: store directly, without an internal command to build
        // and parse back.
        let body = cmd.body.as_deref().unwrap_or_default();
        Ok(Some(store(broker, &cmd, &append.view(), body).await))
    } else {
        let req = append.into_command(&cmd);
        broker
            .shard
            .call_shard(owner, ServiceKind::Broker, conn.clone(), req)
            .await
    };
    match answer {
        Ok(Some(mut resp)) => {
            resp.opaque = cmd.opaque;
            resp.serialize_type = cmd.serialize_type;
            // Java answers with the queue the producer chose, also for a delayed message
            // stored in a schedule queue.
            if resp.code == response_code::SUCCESS || resp.code == response_code::FLUSH_DISK_TIMEOUT
            {
                resp.ext_fields.insert_display("queueId", queue_id);
            }
            resp
        }
        Ok(None) | Err(()) => busy(&cmd),
    }
}

/// MESSAGE_ILLEGAL's remark, as Java's `handlePutMessageResult` writes it.
fn message_illegal_remark(config: &crate::config::BrokerConfig) -> String {
    format!(
        "the message is illegal, maybe msg body or properties length not matched. msg body length limit {}B, msg properties length limit 32KB.",
        config.max_message_size
    )
}

/// A random queue id in `0..write_queues`.
pub fn random_queue(write_queues: i32) -> i32 {
    let n = u32::try_from(write_queues.max(1)).unwrap_or(1);
    let mut bytes = [0u8; 4];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the valid buffer given.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let r = if got == 4 {
        u32::from_ne_bytes(bytes)
    } else {
        // No entropy available: spread by time instead (any queue is valid).
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    };
    i32::try_from(r % n).unwrap_or(0)
}

fn field<T: std::str::FromStr>(cmd: &RemotingCommand, k: &str) -> Option<T> {
    cmd.ext_fields.get(k).and_then(|v| v.parse().ok())
}

/// Upstream's SERVICE_NOT_AVAILABLE remark (`SendMessageProcessor`, 4.9.8), with its
/// `diskUtil()` figures: CommitLog, ConsumeQueue and index share this shard's file system, so
/// the one ratio is given three times (-1 when it cannot be read, as `UtilAll` does).
fn disk_full_remark(used_ratio: Option<f64>) -> String {
    let r = used_ratio.unwrap_or(-1.0);
    format!(
        "service not available now. It may be caused by one of the following reasons: \
         the broker's disk is full [CL: {r:5.2} CQ: {r:5.2} INDEX: {r:5.2}], messages are put \
         to the slave, message store has been shut down, etc."
    )
}

/// The owner shard's half of a forwarded send: store and answer.
pub async fn append(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(view) = AppendView::of_command(cmd) else {
        return error(
            cmd,
            response_code::SYSTEM_ERROR,
            "malformed internal append",
        );
    };
    store(broker, cmd, &view, cmd.body.as_deref().unwrap_or_default()).await
}

/// Store `a` (with `body`, a batch body when `a.batch`) on this shard, the queue's owner, and
/// build the reply to `cmd`. A single message goes through the store's `append_one` (no
/// input or outcome vectors); its reply fields are written into the extFields arena without
/// temporary strings.
async fn store(
    broker: &Broker,
    cmd: &RemotingCommand,
    a: &AppendView<'_>,
    body: &[u8],
) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return error(cmd, response_code::SERVICE_NOT_AVAILABLE, "store not open");
    };
    let base = MessageInput {
        topic: a.topic,
        queue_id: a.queue_id,
        flag: a.flag,
        sys_flag: a.sys_flag,
        born_timestamp: a.born_timestamp,
        born_host: a.born_host,
        reconsume_times: a.reconsume_times,
        prepared_transaction_offset: 0,
        body,
        properties: a.properties,
    };
    if !a.batch {
        let outcome = match data.store.append_one(&base).await {
            Ok(o) => o,
            Err(e) => return append_error(cmd, &data, e),
        };
        data.traffic.record_put(1);
        let mut resp = RemotingCommand::response_to(cmd, put_status_code(outcome.status), None);
        let p = outcome.placement;
        let ext = &mut resp.ext_fields;
        *ext = rmq_protocol::ExtFields::with_capacities(6, 160);
        ext.insert(
            "msgId",
            id::encode_offset_msg_id(data.store_host, p.physical_offset),
        );
        ext.insert_display("queueId", a.queue_id);
        ext.insert_display("queueOffset", p.queue_offset);
        if let Some(uniq) = properties::get(a.properties, "UNIQ_KEY") {
            ext.insert("transactionId", uniq);
        }
        ext.insert("MSG_REGION", &broker.config.region_id);
        ext.insert_display("TRACE_ON", broker.config.trace_on);
        resp.has_ext_fields = true;
        return resp;
    }
    let inputs: Vec<MessageInput<'_>> = match batch::decode_batch(body) {
        Ok(entries) if !entries.is_empty() => entries
            .iter()
            .map(|e| MessageInput {
                flag: e.flag,
                body: e.body,
                properties: e.properties,
                ..base
            })
            .collect(),
        Ok(_) => return error(cmd, response_code::MESSAGE_ILLEGAL, "empty batch"),
        Err(e) => return error(cmd, response_code::MESSAGE_ILLEGAL, &e.to_string()),
    };
    let outcome = match data.store.append(&inputs).await {
        Ok(o) => o,
        Err(e) => return append_error(cmd, &data, e),
    };
    data.traffic
        .record_put(u64::try_from(outcome.placements.len()).unwrap_or(0));
    let msg_id = outcome
        .placements
        .iter()
        .map(|p| id::encode_offset_msg_id(data.store_host, p.physical_offset))
        .collect::<Vec<_>>()
        .join(",");
    let queue_offset = outcome.placements.first().map_or(0, |p| p.queue_offset);
    let mut resp = RemotingCommand::response_to(cmd, put_status_code(outcome.status), None)
        .with_header(&SendMessageResponseHeader {
            msg_id,
            queue_id: a.queue_id,
            queue_offset,
            transaction_id: None,
            batch_uniq_id: None,
            recall_handle: None,
        });
    resp.ext_fields
        .insert("MSG_REGION", &broker.config.region_id);
    resp.ext_fields
        .insert_display("TRACE_ON", broker.config.trace_on);
    resp
}

fn put_status_code(status: PutStatus) -> i32 {
    match status {
        PutStatus::PutOk => response_code::SUCCESS,
        PutStatus::FlushDiskTimeout => response_code::FLUSH_DISK_TIMEOUT,
    }
}

/// The reply to a refused append.
fn append_error(cmd: &RemotingCommand, data: &DataPlane, e: AppendError) -> RemotingCommand {
    if let AppendError::DiskFull(_) = e {
        return error(
            cmd,
            response_code::SERVICE_NOT_AVAILABLE,
            &disk_full_remark(data.store.disk_used_ratio()),
        );
    }
    let code = match e {
        AppendError::MessageIllegal(_) => response_code::MESSAGE_ILLEGAL,
        AppendError::Fenced(_) | AppendError::ShuttingDown | AppendError::DiskFull(_) => {
            response_code::SERVICE_NOT_AVAILABLE
        }
        AppendError::WriteFailed(_) => response_code::SYSTEM_ERROR,
    };
    error(cmd, code, &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_remark_is_upstreams_with_disk_util() {
        assert_eq!(
            disk_full_remark(Some(0.987)),
            "service not available now. It may be caused by one of the following reasons: the \
             broker's disk is full [CL:  0.99 CQ:  0.99 INDEX:  0.99], messages are put to the \
             slave, message store has been shut down, etc."
        );
        assert!(disk_full_remark(None).contains("[CL: -1.00 CQ: -1.00 INDEX: -1.00]"));
    }

    #[test]
    fn stored_properties_drop_wait_and_add_cluster() {
        let p = properties::encode([("UNIQ_KEY", "X"), ("WAIT", "true"), ("TAGS", "A")]);
        let s = stored_properties(&p, "DefaultCluster");
        assert_eq!(properties::get(&s, "WAIT"), None);
        assert_eq!(properties::get(&s, "CLUSTER"), Some("DefaultCluster"));
        assert_eq!(properties::get(&s, "TAGS"), Some("A"));
        // Same text as encoding the kept entries; malformed segments dropped as Java does.
        let odd = "\u{1}x\u{2}K\u{1}v\u{2}CLUSTER\u{1}old\u{2}T\u{1}a\u{1}b";
        assert_eq!(
            stored_properties(odd, "C"),
            properties::encode([("K", "v"), ("T", "a\u{1}b"), ("CLUSTER", "C")])
        );
    }

    #[test]
    fn batch_flag_follows_java_boolean_parsing() {
        let ext: rmq_protocol::ExtFields = [
            ("a", "PG"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", "1"),
            ("h", "0"),
            ("m", "1"),
        ]
        .into_iter()
        .collect();
        let h =
            SendMessageRequestHeader::read_for_code(request_code::SEND_MESSAGE_V2, &ext).unwrap();
        assert!(!is_batch(request_code::SEND_MESSAGE_V2, &h));
        assert!(is_batch(request_code::SEND_BATCH_MESSAGE, &h));
    }

    #[test]
    fn random_queue_is_in_range() {
        for n in [1, 4, 8] {
            for _ in 0..50 {
                assert!((0..n).contains(&random_queue(n)));
            }
        }
    }
}
