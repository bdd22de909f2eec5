//! `rmq-bench null-server`: a NameServer and a broker on one port that answer at once and
//! store nothing. Routes point every topic at this same address, SENDs get SUCCESS with a
//! well-formed offset message id and a per-queue offset counter, oneway SENDs get no reply.
//! A SEND reply carries the same extFields a Java 5.x broker sends (`msgId`, `queueId`,
//! `queueOffset`, `transactionId` = the message's `UNIQ_KEY`, `MSG_REGION`, `TRACE_ON`), so the
//! client parses as much per reply here as against a real broker and the ratio measures
//! storage and dispatch, not a shorter reply.
//! It measures the load generator's own ceiling: the ratio of a real broker's rate to this
//! one is what storage and dispatch cost.
//!
//! Each executor (`--threads`) binds the same port (glommio listeners use `SO_REUSEPORT`), so
//! connections spread over the cores. Replies to every frame found in one read are encoded
//! into one buffer and written with one call.
//!
//! Invariants: a frame that breaks the protocol limits closes its connection; a request this
//! server does not know gets `REQUEST_CODE_NOT_SUPPORTED`; nothing here panics on input.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use rmq_protocol::body::perm::{PERM_READ, PERM_WRITE};
use rmq_protocol::body::{
    BrokerData, ClusterInfo, GetConsumerListByGroupResponseBody, JsonBody, QueueData,
    RouteJsonStyle, TopicRouteData,
};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{
    CommandHeader, GetMaxOffsetResponseHeader, GetRouteInfoRequestHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, SendMessageResponseHeader,
};
use rmq_protocol::message::id::encode_offset_msg_id;
use rmq_protocol::message::properties;
use rmq_protocol::RemotingCommand;

/// Bytes read per read call.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Queues the null broker offers per topic.
pub const NULL_QUEUES_DEFAULT: i32 = 8;

/// The broker name and cluster the null server reports.
pub const NULL_BROKER_NAME: &str = "null-broker";
/// The cluster name.
pub const NULL_CLUSTER_NAME: &str = "NullCluster";
/// `MSG_REGION` in SEND replies: the Java broker's default `regionId`.
const NULL_REGION: &str = "DefaultRegion";

/// What one null-server executor needs.
#[derive(Debug, Clone)]
pub struct NullServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// The address put in routes (what clients connect to).
    pub advertised: String,
    /// Queues per topic.
    pub queues: i32,
}

struct NullState {
    config: NullServerConfig,
    /// Next offset per queue id (a counter, nothing stored).
    offsets: std::cell::RefCell<BTreeMap<i32, i64>>,
    /// A physical offset counter for message ids.
    physical: Cell<i64>,
    store_host: SocketAddr,
}

/// Serve until the process ends (run inside a glommio executor).
pub async fn serve(config: NullServerConfig) -> std::io::Result<()> {
    let listener =
        TcpListener::bind(config.listen).map_err(|e| std::io::Error::other(e.to_string()))?;
    let store_host = config
        .advertised
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], config.listen.port())));
    let state = Rc::new(NullState {
        config,
        offsets: std::cell::RefCell::new(BTreeMap::new()),
        physical: Cell::new(0),
        store_host,
    });
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(connection(Rc::clone(&state), stream)).detach();
            }
            Err(e) => {
                eprintln!("null-server: accept failed: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(state: Rc<NullState>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    loop {
        loop {
            match RemotingCommand::decode_from(&mut buf) {
                Ok(Some(cmd)) => {
                    if let Some(reply) = answer(&state, &cmd) {
                        if reply.encode(&mut out).is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        // A reused scratch buffer: no zero-filled chunk of `buf` per read.
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
        }
    }
}

fn route(state: &NullState) -> TopicRouteData {
    let mut addrs = BTreeMap::new();
    addrs.insert(0, state.config.advertised.clone());
    TopicRouteData {
        queue_datas: vec![QueueData {
            broker_name: NULL_BROKER_NAME.into(),
            read_queue_nums: state.config.queues,
            write_queue_nums: state.config.queues,
            perm: PERM_READ | PERM_WRITE,
            topic_sys_flag: 0,
        }],
        broker_datas: vec![BrokerData {
            cluster: NULL_CLUSTER_NAME.into(),
            broker_name: NULL_BROKER_NAME.into(),
            broker_addrs: addrs,
            ..BrokerData::default()
        }],
        ..TopicRouteData::default()
    }
}

/// The reply to `req`, or `None` for oneway requests.
fn answer(state: &NullState, req: &RemotingCommand) -> Option<RemotingCommand> {
    let reply = |code: i32| {
        let mut r = RemotingCommand::response_to(req, code, None);
        r.has_ext_fields = true;
        r
    };
    let response = match req.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            let standard = req
                .decode_header::<GetRouteInfoRequestHeader>()
                .ok()
                .and_then(|h| h.accept_standard_json_only)
                .unwrap_or(false);
            let style = RouteJsonStyle::for_request(req.version, standard);
            reply(response_code::SUCCESS).with_body(route(state).encode_route(style))
        }
        request_code::GET_BROKER_CLUSTER_INFO => {
            let r = route(state);
            let mut info = ClusterInfo::default();
            info.broker_addr_table
                .insert(NULL_BROKER_NAME.into(), r.broker_datas[0].clone());
            info.cluster_addr_table.insert(
                NULL_CLUSTER_NAME.into(),
                [NULL_BROKER_NAME.to_string()].into_iter().collect(),
            );
            reply(response_code::SUCCESS).with_body(info.encode())
        }
        request_code::SEND_MESSAGE
        | request_code::SEND_MESSAGE_V2
        | request_code::SEND_BATCH_MESSAGE => match req.decode_send_header() {
            Ok(h) => {
                let queue_id = if h.queue_id < 0 || h.queue_id >= state.config.queues {
                    0
                } else {
                    h.queue_id
                };
                let offset = {
                    let mut offsets = state.offsets.borrow_mut();
                    let o = offsets.entry(queue_id).or_insert(0);
                    let v = *o;
                    *o += 1;
                    v
                };
                let physical = state.physical.get();
                let body_len = req.body.as_ref().map_or(0, |b| b.len());
                state
                    .physical
                    .set(physical.wrapping_add(body_len as i64 + 100));
                if req.is_oneway() {
                    return None;
                }
                let mut r = reply(response_code::SUCCESS);
                let uniq_key = h
                    .properties
                    .as_deref()
                    .and_then(|p| properties::get(p, "UNIQ_KEY"))
                    .map(str::to_owned);
                SendMessageResponseHeader {
                    msg_id: encode_offset_msg_id(state.store_host, physical),
                    queue_id,
                    queue_offset: offset,
                    transaction_id: uniq_key,
                    batch_uniq_id: None,
                    recall_handle: None,
                }
                .write_to(&mut r.ext_fields);
                r.ext_fields.insert("MSG_REGION", NULL_REGION);
                r.ext_fields.insert("TRACE_ON", "true");
                r
            }
            Err(e) => {
                let mut r = reply(response_code::SYSTEM_ERROR);
                r.remark = Some(e.to_string());
                r
            }
        },
        request_code::HEART_BEAT
        | request_code::UNREGISTER_CLIENT
        | request_code::UPDATE_CONSUMER_OFFSET
        | request_code::UPDATE_AND_CREATE_TOPIC => reply(response_code::SUCCESS),
        request_code::GET_CONSUMER_LIST_BY_GROUP => reply(response_code::SUCCESS)
            .with_body(GetConsumerListByGroupResponseBody::default().encode()),
        request_code::QUERY_CONSUMER_OFFSET => reply(response_code::QUERY_NOT_FOUND),
        request_code::GET_MAX_OFFSET => {
            let mut r = reply(response_code::SUCCESS);
            GetMaxOffsetResponseHeader { offset: 0 }.write_to(&mut r.ext_fields);
            r
        }
        request_code::PULL_MESSAGE => {
            let offset = req
                .decode_header::<PullMessageRequestHeader>()
                .map_or(0, |h| h.queue_offset);
            let mut r = reply(response_code::PULL_NOT_FOUND);
            PullMessageResponseHeader {
                suggest_which_broker_id: 0,
                next_begin_offset: offset,
                min_offset: 0,
                max_offset: 0,
                offset_delta: None,
                topic_sys_flag: None,
                group_sys_flag: None,
                forbidden_type: None,
            }
            .write_to(&mut r.ext_fields);
            r
        }
        _ => {
            let mut r = reply(response_code::REQUEST_CODE_NOT_SUPPORTED);
            r.remark = Some(format!("request code {} not supported", req.code));
            r
        }
    };
    if req.is_oneway() {
        None
    } else {
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::header::SendMessageRequestHeader;
    use rmq_protocol::ExtFields;

    fn state() -> NullState {
        NullState {
            config: NullServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                advertised: "127.0.0.1:4000".into(),
                queues: 4,
            },
            offsets: std::cell::RefCell::new(BTreeMap::new()),
            physical: Cell::new(0),
            store_host: "127.0.0.1:4000".parse().unwrap(),
        }
    }

    fn send(queue_id: i32, oneway: bool) -> RemotingCommand {
        let mut cmd = RemotingCommand::new_request(request_code::SEND_MESSAGE_V2, ExtFields::new())
            .with_send_header(&SendMessageRequestHeader {
                producer_group: "g".into(),
                topic: "T".into(),
                default_topic: "TBW102".into(),
                default_topic_queue_nums: 4,
                queue_id,
                sys_flag: 0,
                born_timestamp: 0,
                flag: 0,
                properties: Some("UNIQ_KEY\u{1}7F0000010001\u{2}".into()),
                reconsume_times: None,
                unit_mode: None,
                max_reconsume_times: None,
                batch: None,
                broker_name: None,
            })
            .unwrap()
            .with_body(&b"x"[..]);
        cmd.opaque = 9;
        if oneway {
            cmd.flag |= rmq_protocol::command::FLAG_ONEWAY;
        }
        cmd
    }

    #[test]
    fn route_points_at_itself_and_sends_count_per_queue() {
        let s = state();
        let mut req =
            RemotingCommand::new_request(request_code::GET_ROUTEINFO_BY_TOPIC, ExtFields::new());
        req.set_ext("topic", "AnyTopic");
        let r = answer(&s, &req).unwrap();
        assert_eq!(r.code, 0);
        let route = TopicRouteData::decode(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs[&0], "127.0.0.1:4000");
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);

        let first = answer(&s, &send(2, false)).unwrap();
        let second = answer(&s, &send(2, false)).unwrap();
        assert!(first.is_response());
        assert_eq!(first.opaque, 9);
        let h1: SendMessageResponseHeader = first.decode_header().unwrap();
        let h2: SendMessageResponseHeader = second.decode_header().unwrap();
        assert_eq!((h1.queue_id, h1.queue_offset, h2.queue_offset), (2, 0, 1));
        assert_eq!(h1.msg_id.len(), 32);
        // The extFields a Java 5.x broker adds to a SEND reply.
        assert_eq!(h1.transaction_id.as_deref(), Some("7F0000010001"));
        assert_eq!(first.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
        assert_eq!(first.ext_fields.get("TRACE_ON"), Some("true"));
        assert!(answer(&s, &send(1, true)).is_none());
        // An out-of-range queue goes to queue 0 rather than failing.
        let h: SendMessageResponseHeader = answer(&s, &send(99, false))
            .unwrap()
            .decode_header()
            .unwrap();
        assert_eq!(h.queue_id, 0);
        let unknown = RemotingCommand::new_request(9999, ExtFields::new());
        assert_eq!(
            answer(&s, &unknown).unwrap().code,
            response_code::REQUEST_CODE_NOT_SUPPORTED
        );
    }
}
