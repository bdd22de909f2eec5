//! Standard message property names (Java `MessageConst`, protocol.md §5.2).
//!
//! Each constant is named after the text it holds, so `keys::UNIQ_KEY == "UNIQ_KEY"`; where
//! the text is not a valid Rust name (`__transactionId__`, `1ST_POP_TIME`, `__CRC32#`) the
//! Java meaning names it. Values are fixed by the wire format and must never change.

/// Space-separated user keys, indexed by the broker.
pub const KEYS: &str = "KEYS";
/// Separator between the keys inside [`KEYS`].
pub const KEY_SEPARATOR: &str = " ";
/// The single tag; its hash goes into the `ConsumeQueue`.
pub const TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for flush/replication before replying. Absent means true.
pub const WAIT: &str = "WAIT";
/// Delay level (1..=18), or `"-1"` on a DLQ message.
pub const DELAY: &str = "DELAY";
/// Original topic of a retried message.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic of a delayed or half message.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id of a delayed or half message.
pub const REAL_QID: &str = "REAL_QID";
/// `"true"` on transaction half (prepared) messages.
pub const TRAN_MSG: &str = "TRAN_MSG";
/// Producer group, used for transaction checks.
pub const PGROUP: &str = "PGROUP";
/// Queue min offset, added client-side from the pull response.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue max offset, added client-side from the pull response.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// Buyer id (legacy).
pub const BUYER_ID: &str = "BUYER_ID";
/// First message id of a retried message.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Legacy transfer flag.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Legacy correction flag.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Legacy MQ2 flag.
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Retry counter on client-side re-sends.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Region id; also a SEND response extField.
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch (`"true"`/`"false"`); also a SEND response extField.
pub const TRACE_ON: &str = "TRACE_ON";
/// Client unique message id (protocol.md §5.5), what users see as `SendResult.msgId`.
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// Extended unique-id information (5.x).
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
/// Maximum retries before the DLQ, on client-side re-sends.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Client-side consume start timestamp.
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
/// Inner batch message count (5.x).
pub const INNER_NUM: &str = "INNER_NUM";
/// Inner batch base offset (5.x).
pub const INNER_BASE: &str = "INNER_BASE";
/// Duplicate information (5.x).
pub const DUP_INFO: &str = "DUP_INFO";
/// Per-message delay before the first transaction check, in seconds.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Half-message queue offset, for op/half bookkeeping.
pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Transaction id: a copy of [`UNIQ_KEY`] on half messages.
pub const TRANSACTION_ID: &str = "__transactionId__";
/// Transaction check counter on half messages.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Request-reply: instance id.
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request-reply: correlation id.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request-reply: the client to reply to.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request-reply: time to live.
pub const TTL: &str = "TTL";
/// Request-reply: arrival time of the reply.
pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Request-reply: push reply time.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Cluster name, added by the broker on send.
pub const CLUSTER: &str = "CLUSTER";
/// Request-reply: message type.
pub const MSG_TYPE: &str = "MSG_TYPE";
/// Pop checkpoint (5.x).
pub const POP_CK: &str = "POP_CK";
/// Pop checkpoint offset (5.x).
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
/// First pop time (5.x).
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// Sharding key (5.x ordered messages).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// Forward queue id (5.x).
pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
/// Redirect marker (5.x).
pub const REDIRECT: &str = "REDIRECT";
/// Multi-dispatch queues (5.x LMQ).
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
/// Multi-dispatch queue offsets (5.x LMQ).
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
/// Trace context (5.x).
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
/// Timer message delay in seconds (5.x).
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// Timer message delivery time in ms (5.x).
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// Timer enqueue time (5.x).
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// Timer dequeue time (5.x).
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// Timer roll count (5.x).
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
/// Timer timeout (5.x).
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Timer deletion of a unique key (5.x).
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Timer delay level (5.x).
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
/// Start-deliver time of a scheduled message (5.x).
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";
/// Born host, as a property (5.x).
pub const BORN_HOST: &str = "__BORNHOST";
/// Born timestamp, as a property (5.x).
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// Original topic of a DLQ message (5.x).
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// Original message id of a DLQ message (5.x).
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// The optional 5.x stored-properties CRC (`enabledAppendPropCRC`), protocol.md §6.1.
pub const CRC32: &str = "__CRC32#";
/// Prefix of transient properties, which the broker never stores (5.x).
pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";
