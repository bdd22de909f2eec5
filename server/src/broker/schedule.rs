//! Delay (scheduled) messages, upstream `ScheduleMessageService` (seeds-digest §1.7).
//!
//! A message sent with a `DELAY` level `L > 0` (a producer's `setDelayTimeLevel`, or a
//! consumer's send-back to its retry topic) is not stored in its topic: [`redirect_delayed`]
//! stores it in queue `L - 1` of [`SCHEDULE_TOPIC`] instead, with its real topic and queue in
//! the `REAL_TOPIC` / `REAL_QID` properties (a level above the highest is the highest, as
//! upstream). Every shard runs one delivery task per level whose schedule queue it owns
//! ([`start`]): it reads the queue in order and, once a message's store time plus the level's
//! delay has passed, appends a copy to its real queue (through that queue's owner shard) with
//! `DELAY` removed and every other property, the body, flag, born host and time, and reconsume
//! times kept; then it moves past it. All messages of one level wait equally long, so the queue
//! is due in order and the task sleeps until its head is due.
//!
//! Progress: each level's next offset is kept per shard in `<shard dir>/delayOffset.json`
//! (upstream's shape, `{"offsetTable":{1:0,2:17}}`, only the levels the shard owns), written
//! every `flushDelayOffsetInterval` and when the shard stops. A crash can deliver a message
//! that was delivered after the last save a second time (at least once, as upstream). A copy
//! that cannot be stored is retried every 10 s; a message without a readable real topic and
//! queue is logged and skipped, as upstream drops it.
//!
//! Differences from upstream: the schedule queue's tag code is the hash of the message's tag
//! (upstream stores the delivery time there); due times are computed from the store time.
//! A batch with a delay level is MESSAGE_ILLEGAL, as upstream.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rmq_engine::GetStatus;
use rmq_protocol::body::{DelayOffsetWrapper, JsonBody};
use rmq_protocol::message::record::RecordView;
use rmq_protocol::message::{properties, sysflag};
use rmq_protocol::{ExtFields, RemotingCommand};

use super::dispatch::internal;
use super::processor::send::AppendRequest;
use super::{data, persist, Broker};
use crate::shard::{queue_owner_shard, ConnectionInfo, ServiceKind};
use crate::wire::{response_code, success, system_busy};

/// The topic that holds delayed messages, one queue per level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// The property with a message's delay level.
pub const PROPERTY_DELAY: &str = "DELAY";
/// The property with a delayed message's real topic.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// The property with a delayed message's real queue id.
pub const PROPERTY_REAL_QUEUE_ID: &str = "REAL_QID";
/// Upstream's transactional half topic: its messages are never delivered from a delay level.
const TRANSACTION_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";

/// Wait after a copy could not be stored (upstream's `DELAY_FOR_A_PERIOD`).
const STORE_FAILED_RETRY_WAIT: Duration = Duration::from_secs(10);
/// Longest sleep of an idle delivery task between looks at its queue (a new message wakes
/// it earlier through the arrival waiters).
const IDLE_WAIT_MAX: Duration = Duration::from_secs(1);
/// Records read per look at a schedule queue.
const READ_BATCH_RECORDS_MAX: usize = 32;
/// Bytes read per look at a schedule queue.
const READ_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The delay level in `properties` (0 when absent or not a number, like upstream's
/// `getDelayTimeLevel`).
pub fn delay_level(properties: &str) -> i32 {
    properties::get(properties, PROPERTY_DELAY)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Upstream `CommitLog.putMessage`: a non-transactional (or committed) message with a delay
/// level goes to the level's schedule queue, its real topic and queue kept in properties.
/// Returns whether `req` was redirected. `levels_count` is the number of configured levels.
pub fn redirect_delayed(req: &mut AppendRequest, levels_count: usize) -> bool {
    let transaction = sysflag::message::transaction_value(req.sys_flag);
    if req.batch
        || levels_count == 0
        || !(transaction == sysflag::message::TRANSACTION_NOT_TYPE
            || transaction == sysflag::message::TRANSACTION_COMMIT_TYPE)
    {
        return false;
    }
    let level = delay_level(&req.properties);
    if level <= 0 {
        return false;
    }
    let level = level.min(i32::try_from(levels_count).unwrap_or(i32::MAX));
    let real_queue = req.queue_id.to_string();
    let level_text = level.to_string();
    let kept = properties::iter(&req.properties).filter(|(k, _)| {
        ![PROPERTY_DELAY, PROPERTY_REAL_TOPIC, PROPERTY_REAL_QUEUE_ID].contains(k)
    });
    let redirected = properties::encode(kept.chain([
        (PROPERTY_DELAY, level_text.as_str()),
        (PROPERTY_REAL_TOPIC, req.topic.as_str()),
        (PROPERTY_REAL_QUEUE_ID, real_queue.as_str()),
    ]));
    req.properties = redirected;
    req.topic = SCHEDULE_TOPIC.to_string();
    req.queue_id = level - 1;
    true
}

/// The copy of a due message for its real queue, or why it cannot be delivered.
fn delivery_of(record: &RecordView<'_>) -> Result<AppendRequest, String> {
    let props = record.properties();
    let topic = properties::get(props, PROPERTY_REAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or("no REAL_TOPIC property")?;
    if topic == TRANSACTION_HALF_TOPIC {
        return Err(format!(
            "{TRANSACTION_HALF_TOPIC} is never delivered from a delay level"
        ));
    }
    let queue_id = properties::get(props, PROPERTY_REAL_QUEUE_ID)
        .and_then(|q| q.parse::<i32>().ok())
        .filter(|q| *q >= 0)
        .ok_or("no valid REAL_QID property")?;
    Ok(AppendRequest {
        topic: topic.to_string(),
        queue_id,
        sys_flag: record.sys_flag(),
        born_timestamp: record.born_timestamp(),
        flag: record.flag(),
        properties: properties::encode(
            properties::iter(props).filter(|(k, _)| *k != PROPERTY_DELAY),
        ),
        reconsume_times: record.reconsume_times(),
        batch: false,
        born_host: record.born_host(),
    })
}

/// Delivery progress of the levels one shard owns, saved in its store directory.
struct Progress {
    path: PathBuf,
    next_offsets: RefCell<BTreeMap<i32, i64>>,
    dirty: Cell<bool>,
}

impl Progress {
    fn load(path: PathBuf) -> Self {
        let next_offsets = match persist::load::<DelayOffsetWrapper>(&path) {
            Ok(Some(w)) => w.offset_table,
            Ok(None) => BTreeMap::new(),
            Err(e) => {
                // Starting a level from its queue's first message delivers again what was
                // delivered; losing delayed messages would be worse.
                log_warn!(
                    "delay offsets unreadable, levels start from their first message",
                    error = e
                );
                BTreeMap::new()
            }
        };
        Progress {
            path,
            next_offsets: RefCell::new(next_offsets),
            dirty: Cell::new(false),
        }
    }

    fn get(&self, level: i32) -> i64 {
        self.next_offsets
            .borrow()
            .get(&level)
            .copied()
            .unwrap_or(0)
            .max(0)
    }

    fn set(&self, level: i32, offset: i64) {
        self.next_offsets.borrow_mut().insert(level, offset);
        self.dirty.set(true);
    }

    fn save(&self) {
        if !self.dirty.replace(false) {
            return;
        }
        let wrapper = DelayOffsetWrapper {
            offset_table: self.next_offsets.borrow().clone(),
            data_version: None,
        };
        if let Err(e) = persist::store(&self.path, &wrapper) {
            self.dirty.set(true);
            log_error!("cannot save delay offsets", error = e);
        }
    }
}

thread_local! {
    /// This shard's delivery progress, for GET_ALL_DELAY_OFFSET (none: the shard owns no level).
    static SHARD_PROGRESS: RefCell<Option<Rc<Progress>>> = const { RefCell::new(None) };
}

/// This shard's part of GET_ALL_DELAY_OFFSET: the next offsets of the levels it owns.
pub fn shard_delay_offsets(cmd: &RemotingCommand) -> RemotingCommand {
    let offset_table = SHARD_PROGRESS.with(|p| {
        p.borrow()
            .as_ref()
            .map(|p| p.next_offsets.borrow().clone())
            .unwrap_or_default()
    });
    success(cmd).with_body(
        DelayOffsetWrapper {
            offset_table,
            data_version: None,
        }
        .encode(),
    )
}

/// GET_ALL_DELAY_OFFSET (45): every level's next offset, gathered from the shards that own
/// them, in upstream's `delayOffset.json` shape.
pub async fn all_delay_offsets(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let mut merged = BTreeMap::new();
    for shard in 0..broker.shard.count {
        let ask = RemotingCommand::new_request(internal::DELAY_OFFSETS, ExtFields::new());
        let Ok(Some(r)) = broker
            .shard
            .call_shard(shard, ServiceKind::Broker, conn.clone(), ask)
            .await
        else {
            return system_busy(cmd);
        };
        let part = r
            .body
            .as_deref()
            .map(DelayOffsetWrapper::decode)
            .and_then(Result::ok)
            .unwrap_or_default();
        merged.extend(part.offset_table);
    }
    success(cmd).with_body(
        DelayOffsetWrapper {
            offset_table: merged,
            data_version: None,
        }
        .encode(),
    )
}

/// Start the delivery tasks of the delay levels this shard owns, and the task that saves their
/// progress. Call once the shard's store is open.
pub fn start(broker: &Rc<Broker>) {
    let levels = broker.config.message_delay_levels.clone();
    let shard = &broker.shard;
    let owned: Vec<(i32, Duration)> = (1..)
        .zip(levels)
        .filter(|(level, _)| {
            let queue = u32::try_from(level - 1).unwrap_or(0);
            queue_owner_shard(SCHEDULE_TOPIC, queue, shard.count) == shard.id
        })
        .collect();
    if owned.is_empty() {
        return;
    }
    let path = data::shard_store_dir(&broker.config, shard.id).join("delayOffset.json");
    let progress = Rc::new(Progress::load(path));
    SHARD_PROGRESS.with(|p| *p.borrow_mut() = Some(Rc::clone(&progress)));
    for (level, delay) in owned {
        let me = Rc::clone(broker);
        let progress = Rc::clone(&progress);
        glommio::spawn_local(async move { deliver_level(me, progress, level, delay).await })
            .detach();
    }
    let me = Rc::clone(broker);
    glommio::spawn_local(async move {
        let period = Duration::from_millis(me.config.flush_delay_offset_interval_ms.max(100));
        while sleep_unless_stopping(&me, period).await {
            progress.save();
        }
        progress.save();
    })
    .detach();
}

/// Sleep for `wait`; false when the shard began stopping instead.
async fn sleep_unless_stopping(broker: &Broker, wait: Duration) -> bool {
    futures_lite::future::or(
        async {
            glommio::timer::sleep(wait).await;
            true
        },
        async {
            broker.shard.stopping().await;
            false
        },
    )
    .await
}

fn now_ms() -> i64 {
    super::topics::now_ms()
}

/// The delivery loop of one level: runs until the shard stops.
async fn deliver_level(broker: Rc<Broker>, progress: Rc<Progress>, level: i32, delay: Duration) {
    let queue_id = level - 1;
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    // The identity of the appends this task asks other shards to do.
    let conn = broker.internal_connection();
    let mut offset = progress.get(level);
    let mut failure_logged = false;
    while !broker.shard.is_stopping() {
        let (result, waiter) = {
            let Some(data) = broker.data().await else {
                return;
            };
            // Registered before the read, so a message stored meanwhile still wakes us.
            let waiter = data.wait_for_arrival(SCHEDULE_TOPIC, queue_id);
            let result = data
                .store
                .get_messages(
                    SCHEDULE_TOPIC,
                    queue_id,
                    offset,
                    READ_BATCH_RECORDS_MAX,
                    READ_BATCH_BYTES_MAX,
                    |_| true,
                )
                .await;
            (result, waiter)
        };
        if result.status != GetStatus::Found {
            if result.next_begin_offset != offset
                && matches!(
                    result.status,
                    GetStatus::OffsetTooSmall | GetStatus::OffsetOverflowBadly
                )
            {
                // Retention removed the head, or the saved offset is past the queue's end.
                offset = result.next_begin_offset;
                progress.set(level, offset);
                continue;
            }
            let woke = futures_lite::future::or(
                async {
                    waiter.arrived().await;
                    true
                },
                sleep_unless_stopping(&broker, IDLE_WAIT_MAX),
            )
            .await;
            if !woke && broker.shard.is_stopping() {
                return;
            }
            continue;
        }
        drop(waiter);
        for bytes in &result.messages {
            let record = match RecordView::parse(bytes) {
                Ok(r) => r,
                Err(e) => {
                    log_warn!(
                        "unreadable delayed record skipped",
                        level = level,
                        offset = offset,
                        error = e
                    );
                    offset += 1;
                    progress.set(level, offset);
                    continue;
                }
            };
            let now = now_ms();
            let due = record.store_timestamp().saturating_add(delay_ms);
            // A store time in the future means the clock went back: deliver now rather than
            // hold the level (upstream's `correctDeliverTimestamp`).
            if due > now && due <= now.saturating_add(delay_ms) {
                let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
                if !sleep_unless_stopping(&broker, wait).await {
                    return;
                }
                break; // read again from `offset`: the head is due now
            }
            let next = record.queue_offset().saturating_add(1).max(offset + 1);
            match delivery_of(&record) {
                Err(reason) => {
                    log_warn!(
                        "delayed message dropped",
                        level = level,
                        offset = record.queue_offset(),
                        reason = reason
                    );
                }
                Ok(copy) => {
                    if let Err(reason) = store_copy(&broker, &conn, copy, record.body()).await {
                        if !failure_logged {
                            log_warn!(
                                "delayed message not delivered, retrying every 10 s",
                                level = level,
                                offset = record.queue_offset(),
                                reason = reason
                            );
                            failure_logged = true;
                        }
                        if !sleep_unless_stopping(&broker, STORE_FAILED_RETRY_WAIT).await {
                            return;
                        }
                        break;
                    }
                    failure_logged = false;
                }
            }
            offset = next;
            progress.set(level, offset);
        }
    }
}

/// Append `copy` (with `body`) through its real queue's owner shard.
async fn store_copy(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    copy: AppendRequest,
    body: &[u8],
) -> Result<(), String> {
    let owner = queue_owner_shard(
        &copy.topic,
        u32::try_from(copy.queue_id).unwrap_or(0),
        broker.shard.count,
    );
    let template = RemotingCommand::new_request(internal::APPEND, ExtFields::new())
        .with_body(bytes::Bytes::copy_from_slice(body));
    let request = copy.into_command(&template);
    match broker
        .shard
        .call_shard(owner, ServiceKind::Broker, conn.clone(), request)
        .await
    {
        Ok(Some(r))
            if r.code == response_code::SUCCESS || r.code == response_code::FLUSH_DISK_TIMEOUT =>
        {
            Ok(())
        }
        Ok(Some(r)) => Err(format!("code {}: {}", r.code, r.remark.unwrap_or_default())),
        Ok(None) | Err(()) => Err("the owner shard did not answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(props: &str) -> AppendRequest {
        AppendRequest {
            topic: "T".into(),
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1,
            flag: 0,
            properties: props.into(),
            reconsume_times: 0,
            batch: false,
            born_host: "127.0.0.1:1".parse().unwrap(),
        }
    }

    #[test]
    fn a_delay_level_redirects_to_its_schedule_queue() {
        let mut r = request("TAGS\u{1}a\u{2}DELAY\u{1}3\u{2}");
        assert!(redirect_delayed(&mut r, 18));
        assert_eq!(r.topic, SCHEDULE_TOPIC);
        assert_eq!(r.queue_id, 2);
        assert_eq!(properties::get(&r.properties, "TAGS"), Some("a"));
        assert_eq!(properties::get(&r.properties, PROPERTY_DELAY), Some("3"));
        assert_eq!(
            properties::get(&r.properties, PROPERTY_REAL_TOPIC),
            Some("T")
        );
        assert_eq!(
            properties::get(&r.properties, PROPERTY_REAL_QUEUE_ID),
            Some("3")
        );
    }

    #[test]
    fn a_level_above_the_highest_is_the_highest() {
        let mut r = request("DELAY\u{1}99\u{2}");
        assert!(redirect_delayed(&mut r, 18));
        assert_eq!(r.queue_id, 17);
        assert_eq!(properties::get(&r.properties, PROPERTY_DELAY), Some("18"));
    }

    #[test]
    fn no_redirect_without_a_positive_level_for_batches_or_prepared_transactions() {
        for props in [
            "",
            "DELAY\u{1}0\u{2}",
            "DELAY\u{1}-2\u{2}",
            "DELAY\u{1}x\u{2}",
        ] {
            let mut r = request(props);
            assert!(!redirect_delayed(&mut r, 18), "{props:?}");
            assert_eq!(r.topic, "T");
        }
        let mut batch = request("DELAY\u{1}1\u{2}");
        batch.batch = true;
        assert!(!redirect_delayed(&mut batch, 18));
        let mut prepared = request("DELAY\u{1}1\u{2}");
        prepared.sys_flag = sysflag::message::TRANSACTION_PREPARED_TYPE;
        assert!(!redirect_delayed(&mut prepared, 18));
        let mut committed = request("DELAY\u{1}1\u{2}");
        committed.sys_flag = sysflag::message::TRANSACTION_COMMIT_TYPE;
        assert!(redirect_delayed(&mut committed, 18));
        assert!(!redirect_delayed(&mut request("DELAY\u{1}1\u{2}"), 0));
    }

    #[test]
    fn the_delivered_copy_goes_to_the_real_queue_without_delay() {
        let mut r = request("TAGS\u{1}a\u{2}UNIQ_KEY\u{1}U1\u{2}DELAY\u{1}2\u{2}");
        assert!(redirect_delayed(&mut r, 18));
        let bytes = rmq_protocol::message::record::RecordFields {
            queue_id: r.queue_id,
            flag: 7,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 11,
            born_host: r.born_host,
            store_timestamp: 12,
            store_host: r.born_host,
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body: b"hello",
            topic: &r.topic,
            properties: &r.properties,
        }
        .encode_to_vec()
        .unwrap();
        let view = RecordView::parse(&bytes).unwrap();
        let copy = delivery_of(&view).unwrap();
        assert_eq!((copy.topic.as_str(), copy.queue_id), ("T", 3));
        assert_eq!(copy.flag, 7);
        assert_eq!(copy.reconsume_times, 2);
        assert_eq!(copy.born_timestamp, 11);
        assert_eq!(properties::get(&copy.properties, PROPERTY_DELAY), None);
        assert_eq!(properties::get(&copy.properties, "UNIQ_KEY"), Some("U1"));
        assert_eq!(
            properties::get(&copy.properties, PROPERTY_REAL_TOPIC),
            Some("T")
        );
    }
}
