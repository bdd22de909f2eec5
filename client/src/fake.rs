//! An in-memory [`Transport`] for unit tests: a scripted NameServer and brokers that keep
//! queues of messages, consumer offsets and group membership, and can be told to fail.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use rmq_protocol::body::{
    GetConsumerListByGroupResponseBody, HeartbeatData, JsonBody, LockBatchRequestBody,
    LockBatchResponseBody, TopicRouteData,
};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{
    CommandHeader, GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader, GetRouteInfoRequestHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    SendMessageResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use rmq_protocol::RemotingCommand;

use crate::error::{ClientError, ClientResult};
use crate::message::tests::stored_record;
use crate::transport::Transport;

/// (broker addr, topic, queue id).
pub type QueueKey = (String, String, i32);

/// What a fake broker does with SEND requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendBehaviour {
    Accept,
    /// Store, but answer with this code (FLUSH_DISK_TIMEOUT and friends).
    Stored(i32),
    /// Answer with this code and no header.
    Reply(i32),
    Timeout,
}

#[derive(Default)]
pub struct FakeCluster {
    /// Routes the fake NameServer answers with, by topic.
    pub routes: RefCell<HashMap<String, TopicRouteData>>,
    /// SEND behaviour by broker address.
    pub send_behaviour: RefCell<HashMap<String, SendBehaviour>>,
    /// (addr, code, queue id) of every request seen.
    pub log: RefCell<Vec<(String, i32, i32)>>,
    /// Stored message bodies by (addr, topic, queue id).
    pub queues: RefCell<BTreeMap<QueueKey, Vec<Vec<u8>>>>,
    /// Committed offsets by (broker addr, group, topic, queue id).
    pub offsets: RefCell<BTreeMap<(String, String, String, i32), i64>>,
    /// Client ids registered by heartbeat, by group.
    pub members: RefCell<BTreeMap<String, Vec<String>>>,
    pub oneway_count: Cell<usize>,
}

fn reply(code: i32) -> RemotingCommand {
    RemotingCommand {
        code,
        flag: rmq_protocol::command::FLAG_RESPONSE,
        has_ext_fields: true,
        ..RemotingCommand::default()
    }
}

impl FakeCluster {
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    fn handle(&self, addr: &str, req: &RemotingCommand) -> Option<RemotingCommand> {
        let queue_id = req
            .ext_fields
            .get("queueId")
            .or_else(|| req.ext_fields.get("e"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        self.log
            .borrow_mut()
            .push((addr.to_string(), req.code, queue_id));
        match req.code {
            request_code::GET_ROUTEINFO_BY_TOPIC => {
                let h: GetRouteInfoRequestHeader = req.decode_header().ok()?;
                Some(match self.routes.borrow().get(&h.topic) {
                    Some(r) => reply(0).with_body(r.encode()),
                    None => reply(response_code::TOPIC_NOT_EXIST),
                })
            }
            request_code::SEND_MESSAGE_V2 | request_code::SEND_BATCH_MESSAGE => {
                let behaviour = self
                    .send_behaviour
                    .borrow()
                    .get(addr)
                    .copied()
                    .unwrap_or(SendBehaviour::Accept);
                match behaviour {
                    SendBehaviour::Timeout => None,
                    SendBehaviour::Reply(code) if code != 0 => Some(reply(code)),
                    _ => {
                        let h = req.decode_send_header().ok()?;
                        let key = (addr.to_string(), h.topic.clone(), h.queue_id);
                        let mut queues = self.queues.borrow_mut();
                        let q = queues.entry(key).or_default();
                        q.push(req.body.as_deref().unwrap_or_default().to_vec());
                        let code = match behaviour {
                            SendBehaviour::Stored(code) => code,
                            _ => 0,
                        };
                        let mut r = reply(code);
                        SendMessageResponseHeader {
                            msg_id: "7F0000010000000000000000000000AA".into(),
                            queue_id: h.queue_id,
                            queue_offset: q.len() as i64 - 1,
                            transaction_id: None,
                            batch_uniq_id: None,
                            recall_handle: None,
                        }
                        .write_to(&mut r.ext_fields);
                        Some(r)
                    }
                }
            }
            request_code::HEART_BEAT => {
                let hb = HeartbeatData::decode(req.body.as_deref().unwrap_or_default()).ok()?;
                for c in &hb.consumer_data_set {
                    let mut members = self.members.borrow_mut();
                    let list = members.entry(c.group_name.clone()).or_default();
                    if !list.contains(&hb.client_id) {
                        list.push(hb.client_id.clone());
                    }
                }
                Some(reply(0))
            }
            request_code::GET_CONSUMER_LIST_BY_GROUP => {
                let h: GetConsumerListByGroupRequestHeader = req.decode_header().ok()?;
                let body = GetConsumerListByGroupResponseBody {
                    consumer_id_list: self
                        .members
                        .borrow()
                        .get(&h.consumer_group)
                        .cloned()
                        .unwrap_or_default(),
                };
                Some(reply(0).with_body(body.encode()))
            }
            request_code::QUERY_CONSUMER_OFFSET => {
                let h: QueryConsumerOffsetRequestHeader = req.decode_header().ok()?;
                Some(
                    match self.offsets.borrow().get(&(
                        addr.to_string(),
                        h.consumer_group,
                        h.topic,
                        h.queue_id,
                    )) {
                        Some(&offset) => {
                            let mut r = reply(0);
                            QueryConsumerOffsetResponseHeader { offset }
                                .write_to(&mut r.ext_fields);
                            r
                        }
                        None => reply(response_code::QUERY_NOT_FOUND),
                    },
                )
            }
            request_code::UPDATE_CONSUMER_OFFSET => {
                let h: UpdateConsumerOffsetRequestHeader = req.decode_header().ok()?;
                self.offsets.borrow_mut().insert(
                    (addr.to_string(), h.consumer_group, h.topic, h.queue_id),
                    h.commit_offset,
                );
                Some(reply(0))
            }
            request_code::GET_MAX_OFFSET => {
                let h: GetMaxOffsetRequestHeader = req.decode_header().ok()?;
                let len = self
                    .queues
                    .borrow()
                    .get(&(addr.to_string(), h.topic, h.queue_id))
                    .map_or(0, Vec::len);
                let mut r = reply(0);
                GetMaxOffsetResponseHeader { offset: len as i64 }.write_to(&mut r.ext_fields);
                Some(r)
            }
            request_code::PULL_MESSAGE => {
                let h: PullMessageRequestHeader = req.decode_header().ok()?;
                let queues = self.queues.borrow();
                let stored = queues
                    .get(&(addr.to_string(), h.topic.clone(), h.queue_id))
                    .cloned()
                    .unwrap_or_default();
                let max = stored.len() as i64;
                let start = h.queue_offset.clamp(0, max);
                let end = (start + i64::from(h.max_msg_nums)).min(max);
                let mut body = Vec::new();
                for o in start..end {
                    body.extend(stored_record(&h.topic, h.queue_id, o, &stored[o as usize]));
                }
                let code = if start < end {
                    0
                } else {
                    response_code::PULL_NOT_FOUND
                };
                let mut r = reply(code);
                PullMessageResponseHeader {
                    suggest_which_broker_id: 0,
                    next_begin_offset: end,
                    min_offset: 0,
                    max_offset: max,
                    offset_delta: None,
                    topic_sys_flag: None,
                    group_sys_flag: None,
                    forbidden_type: None,
                }
                .write_to(&mut r.ext_fields);
                if !body.is_empty() {
                    r = r.with_body(body);
                }
                Some(r)
            }
            request_code::LOCK_BATCH_MQ => {
                let body =
                    LockBatchRequestBody::decode(req.body.as_deref().unwrap_or_default()).ok()?;
                let out = LockBatchResponseBody {
                    lock_ok_mq_set: body.mq_set,
                };
                Some(reply(0).with_body(out.encode()))
            }
            request_code::CONSUMER_SEND_MSG_BACK => Some(reply(0)),
            _ => Some(reply(response_code::REQUEST_CODE_NOT_SUPPORTED)),
        }
    }

    /// Requests with `code` seen so far, as (addr, queue id).
    pub fn seen(&self, code: i32) -> Vec<(String, i32)> {
        self.log
            .borrow()
            .iter()
            .filter(|(_, c, _)| *c == code)
            .map(|(a, _, q)| (a.clone(), *q))
            .collect()
    }
}

/// The transport handle tests pass to clients.
pub struct FakeTransport(pub Rc<FakeCluster>);

impl Transport for FakeTransport {
    async fn invoke(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> ClientResult<RemotingCommand> {
        // Round-trip through the codec so tests also prove the frames encode and decode.
        let wire = request
            .encode_to_bytes()
            .map_err(|source| ClientError::Codec {
                addr: addr.into(),
                source,
            })?;
        let request = RemotingCommand::decode(wire).expect("own frame decodes");
        if request.code == request_code::PULL_MESSAGE {
            // A broker holds an empty pull (long polling); a short hold keeps a pull loop on
            // an empty queue from spinning in tests.
            let h: Option<PullMessageRequestHeader> = request.decode_header().ok();
            let empty = h.is_some_and(|h| {
                self.0
                    .queues
                    .borrow()
                    .get(&(addr.to_string(), h.topic.clone(), h.queue_id))
                    .map_or(0, Vec::len) as i64
                    <= h.queue_offset
            });
            if empty {
                glommio::timer::sleep(Duration::from_millis(5)).await;
            }
        }
        match self.0.handle(addr, &request) {
            Some(mut r) => {
                r.opaque = request.opaque;
                let wire = r.encode_to_bytes().expect("fake reply encodes");
                Ok(RemotingCommand::decode(wire).expect("fake reply decodes"))
            }
            None => Err(ClientError::Timeout {
                addr: addr.into(),
                timeout_ms: timeout.as_millis() as u64,
            }),
        }
    }

    async fn invoke_oneway(&self, addr: &str, request: RemotingCommand) -> ClientResult<()> {
        self.0.oneway_count.set(self.0.oneway_count.get() + 1);
        let _ = self.0.handle(addr, &request);
        Ok(())
    }
}

/// Run `f` on a fresh glommio executor (the client's timers and tasks need one).
pub fn run_local<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1024 * 1024)
        .spawn(move || async move { f().await })
        .expect("executor starts")
        .join()
        .expect("test body does not panic");
}
