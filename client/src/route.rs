//! Topic routes: NameServer lookup (`GET_ROUTEINFO_BY_TOPIC`), the queues a producer may write
//! and a consumer may read, broker addresses, and a cache refreshed every 30 s.
//!
//! Invariants: a [`TopicRoute`] lists write queues in upstream's order (brokers sorted by
//! name, queue ids ascending, only writable brokers that have a master), so round-robin
//! selection matches Java's; a route never holds more than [`ROUTE_QUEUES_COUNT_MAX`] queues
//! (a hostile route cannot make us allocate more).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use rmq_protocol::body::perm::{PERM_READ, PERM_WRITE};
use rmq_protocol::body::{JsonBody, MessageQueue, QueueData, TopicRouteData};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::GetRouteInfoRequestHeader;
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::error::{ClientError, ClientResult};
use crate::limits::ROUTE_QUEUES_COUNT_MAX;
use crate::transport::Transport;

/// Master broker id in `brokerAddrs`.
pub const MASTER_ID: i64 = 0;

/// The NameServer list (`-n "a:9876;b:9876"`), tried in turn.
#[derive(Debug)]
pub struct NameServers {
    addrs: Vec<String>,
    current: Cell<usize>,
}

impl NameServers {
    /// Parse a `;`-separated address list (empty entries are ignored).
    pub fn parse(list: &str) -> ClientResult<Self> {
        let addrs: Vec<String> = list
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if addrs.is_empty() {
            return Err(ClientError::NoNameServer);
        }
        Ok(NameServers {
            addrs,
            current: Cell::new(0),
        })
    }

    /// The addresses, in order.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// Run `call` against the current NameServer, moving to the next on a transport failure,
    /// at most once per server.
    pub async fn call<T: Transport>(
        &self,
        transport: &T,
        request: &RemotingCommand,
        timeout: Duration,
    ) -> ClientResult<RemotingCommand> {
        let mut last = ClientError::NoNameServer;
        for _ in 0..self.addrs.len() {
            let index = self.current.get() % self.addrs.len();
            match transport
                .invoke(&self.addrs[index], request.clone(), timeout)
                .await
            {
                Err(e) if e.is_transport() => {
                    self.current.set(index + 1);
                    last = e;
                }
                other => return other,
            }
        }
        Err(last)
    }
}

/// A topic's route as the client uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRoute {
    /// The topic.
    pub topic: String,
    /// The route as the NameServer sent it.
    pub data: TopicRouteData,
    /// Queues a producer may send to.
    pub write_queues: Vec<MessageQueue>,
    /// Queues a consumer reads.
    pub read_queues: Vec<MessageQueue>,
    masters: HashMap<String, String>,
}

fn push_queues(
    out: &mut Vec<MessageQueue>,
    topic: &str,
    broker: &str,
    count: i32,
) -> ClientResult<()> {
    let count = usize::try_from(count).unwrap_or(0);
    if out.len().saturating_add(count) > ROUTE_QUEUES_COUNT_MAX {
        return Err(ClientError::BadBody {
            addr: String::new(),
            reason: format!("route of {topic} has more than {ROUTE_QUEUES_COUNT_MAX} queues"),
        });
    }
    // `count` fits in i32 (it came from one).
    out.extend((0..count).map(|id| MessageQueue::new(topic, broker, id as i32)));
    Ok(())
}

impl TopicRoute {
    /// Build the producer and consumer views of `data` (Java's `topicRouteData2TopicPublishInfo`
    /// and `topicRouteData2TopicSubscribeInfo`).
    pub fn new(topic: &str, data: TopicRouteData) -> ClientResult<Self> {
        let masters: HashMap<String, String> = data
            .broker_datas
            .iter()
            .filter_map(|b| {
                b.broker_addrs
                    .get(&MASTER_ID)
                    .map(|a| (b.broker_name.clone(), a.clone()))
            })
            .collect();
        let mut write_queues = Vec::new();
        match data.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
            // "brokerName:queueNums;..." — ordered topics pin their queues explicitly.
            Some(conf) => {
                for item in conf.split(';') {
                    let Some((broker, nums)) = item.split_once(':') else {
                        continue;
                    };
                    let nums: i32 = nums.trim().parse().unwrap_or(0);
                    push_queues(&mut write_queues, topic, broker, nums)?;
                }
            }
            None => {
                let mut queue_datas: Vec<&QueueData> = data.queue_datas.iter().collect();
                queue_datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
                for qd in queue_datas {
                    if qd.perm & PERM_WRITE == 0 || !masters.contains_key(&qd.broker_name) {
                        continue;
                    }
                    push_queues(
                        &mut write_queues,
                        topic,
                        &qd.broker_name,
                        qd.write_queue_nums,
                    )?;
                }
            }
        }
        let mut read_queues = Vec::new();
        for qd in &data.queue_datas {
            if qd.perm & PERM_READ != 0 {
                push_queues(&mut read_queues, topic, &qd.broker_name, qd.read_queue_nums)?;
            }
        }
        read_queues.sort();
        Ok(TopicRoute {
            topic: topic.to_string(),
            data,
            write_queues,
            read_queues,
            masters,
        })
    }

    /// The master address of `broker_name`.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.masters.get(broker_name).map(String::as_str)
    }

    /// Every master address in the route (sorted, no duplicates).
    pub fn master_addrs(&self) -> Vec<String> {
        let mut v: Vec<String> = self.masters.values().cloned().collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every broker address (masters and slaves), sorted, no duplicates.
    pub fn all_addrs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .data
            .broker_datas
            .iter()
            .flat_map(|b| b.broker_addrs.values().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Ask the NameServer for `topic`'s route. `TOPIC_NOT_EXIST` is [`ClientError::NoRoute`].
pub async fn fetch_route<T: Transport>(
    transport: &T,
    name_servers: &NameServers,
    topic: &str,
    timeout: Duration,
) -> ClientResult<TopicRouteData> {
    let request =
        RemotingCommand::new_request(request_code::GET_ROUTEINFO_BY_TOPIC, ExtFields::new())
            .with_header(&GetRouteInfoRequestHeader {
                topic: topic.to_string(),
                accept_standard_json_only: None,
            });
    let response = name_servers.call(transport, &request, timeout).await?;
    match response.code {
        response_code::SUCCESS => {
            let body = response.body.as_deref().unwrap_or_default();
            TopicRouteData::decode(body).map_err(|e| ClientError::BadBody {
                addr: "NameServer".into(),
                reason: e.to_string(),
            })
        }
        response_code::TOPIC_NOT_EXIST => Err(ClientError::NoRoute(topic.to_string())),
        code => Err(ClientError::Broker {
            addr: "NameServer".into(),
            code,
            remark: response.remark.unwrap_or_default(),
        }),
    }
}

/// Cached routes by topic.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: RefCell<HashMap<String, Rc<TopicRoute>>>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached route of `topic`.
    pub fn get(&self, topic: &str) -> Option<Rc<TopicRoute>> {
        self.routes.borrow().get(topic).cloned()
    }

    /// Store a route (replacing the old one).
    pub fn put(&self, route: TopicRoute) -> Rc<TopicRoute> {
        let route = Rc::new(route);
        self.routes
            .borrow_mut()
            .insert(route.topic.clone(), Rc::clone(&route));
        route
    }

    /// Cached topics.
    pub fn topics(&self) -> Vec<String> {
        self.routes.borrow().keys().cloned().collect()
    }

    /// Every master address of every cached route.
    pub fn master_addrs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .routes
            .borrow()
            .values()
            .flat_map(|r| r.master_addrs())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every broker address of every cached route.
    pub fn all_addrs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .routes
            .borrow()
            .values()
            .flat_map(|r| r.all_addrs())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The master address of `broker_name` in any cached route.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.routes
            .borrow()
            .values()
            .find_map(|r| r.master_addr(broker_name).map(str::to_string))
    }

    /// The cached route, or a fresh one from the NameServer.
    pub async fn get_or_fetch<T: Transport>(
        &self,
        transport: &T,
        name_servers: &NameServers,
        topic: &str,
        timeout: Duration,
    ) -> ClientResult<Rc<TopicRoute>> {
        if let Some(r) = self.get(topic) {
            return Ok(r);
        }
        self.refresh(transport, name_servers, topic, timeout).await
    }

    /// Fetch `topic`'s route and cache it.
    pub async fn refresh<T: Transport>(
        &self,
        transport: &T,
        name_servers: &NameServers,
        topic: &str,
        timeout: Duration,
    ) -> ClientResult<Rc<TopicRoute>> {
        let data = fetch_route(transport, name_servers, topic, timeout).await?;
        Ok(self.put(TopicRoute::new(topic, data)?))
    }

    /// Refresh every cached topic; failures keep the old route (a NameServer hiccup must not
    /// drop queues). Returns how many refreshes failed.
    pub async fn refresh_all<T: Transport>(
        &self,
        transport: &T,
        name_servers: &NameServers,
        timeout: Duration,
    ) -> usize {
        let mut failures = 0;
        for topic in self.topics() {
            if self
                .refresh(transport, name_servers, &topic, timeout)
                .await
                .is_err()
            {
                failures += 1;
            }
        }
        failures
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rmq_protocol::body::BrokerData;
    use std::collections::BTreeMap;

    pub(crate) fn route_data(brokers: &[(&str, &str, i32, i32)]) -> TopicRouteData {
        let mut data = TopicRouteData::default();
        for &(name, addr, queues, perm) in brokers {
            data.queue_datas.push(QueueData {
                broker_name: name.into(),
                read_queue_nums: queues,
                write_queue_nums: queues,
                perm,
                topic_sys_flag: 0,
            });
            let mut addrs = BTreeMap::new();
            if !addr.is_empty() {
                addrs.insert(MASTER_ID, addr.to_string());
            }
            data.broker_datas.push(BrokerData {
                cluster: "c".into(),
                broker_name: name.into(),
                broker_addrs: addrs,
                ..BrokerData::default()
            });
        }
        data
    }

    #[test]
    fn write_queues_follow_upstream_order_and_skip_unusable_brokers() {
        let data = route_data(&[
            ("b", "1.1.1.2:10911", 2, 6),
            ("a", "1.1.1.1:10911", 2, 6),
            ("ro", "1.1.1.3:10911", 3, 4),
            ("noaddr", "", 1, 6),
        ]);
        let route = TopicRoute::new("T", data).unwrap();
        let w: Vec<(String, i32)> = route
            .write_queues
            .iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect();
        assert_eq!(
            w,
            [
                ("a".into(), 0),
                ("a".into(), 1),
                ("b".into(), 0),
                ("b".into(), 1)
            ]
        );
        // Read queues: every readable broker, even one without a master in this route.
        assert_eq!(route.read_queues.len(), 2 + 2 + 3 + 1);
        assert_eq!(route.master_addr("a"), Some("1.1.1.1:10911"));
        assert_eq!(route.master_addr("noaddr"), None);
    }

    #[test]
    fn order_topic_conf_pins_queues() {
        let mut data = route_data(&[("a", "1.1.1.1:1", 8, 6), ("b", "1.1.1.2:1", 8, 6)]);
        data.order_topic_conf = Some("b:2;a:1;junk".into());
        let route = TopicRoute::new("T", data).unwrap();
        let w: Vec<(&str, i32)> = route
            .write_queues
            .iter()
            .map(|q| (q.broker_name.as_str(), q.queue_id))
            .collect();
        assert_eq!(w, [("b", 0), ("b", 1), ("a", 0)]);
    }

    #[test]
    fn hostile_queue_counts_are_refused() {
        let data = route_data(&[("a", "1.1.1.1:1", i32::MAX, 6)]);
        assert!(TopicRoute::new("T", data).is_err());
        let data = route_data(&[("a", "1.1.1.1:1", -5, 6)]);
        assert!(TopicRoute::new("T", data).unwrap().write_queues.is_empty());
    }

    #[test]
    fn name_server_list_parses() {
        let ns = NameServers::parse(" a:1; ;b:2;").unwrap();
        assert_eq!(ns.addrs(), ["a:1", "b:2"]);
        assert!(matches!(
            NameServers::parse(" ; "),
            Err(ClientError::NoNameServer)
        ));
    }
}
