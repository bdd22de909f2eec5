//! GET_BROKER_RUNTIME_INFO (28) and GET_BROKER_CONFIG (26), upstream `AdminBrokerProcessor`
//! (protocol.md §2.17).
//!
//! Runtime info carries only values this broker really has; mqadmin prints `null` for a
//! missing key and parses `commitLogDiskRatio` as a double, so that one is always numeric.
//! The message counters and rates (`putTps`, `getTransferedTps` — upstream's spelling, which
//! mqadmin reads — and `getTransferredTps`, `msgPutTotal*`, `msgGetTotal*`) are the sum of
//! every shard's own counters ([`crate::broker::traffic`]), gathered over the mesh on request.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use rmq_protocol::body::{JsonBody, KVTable};
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::broker::dispatch::internal;
use crate::broker::traffic::{tps_text, TrafficReport};
use crate::broker::Broker;
use crate::shard::{ConnectionInfo, ServiceKind};
use crate::wire::{error, response_code, success, system_busy};

/// `MQVersion.Version` name of the version we announce.
const BROKER_VERSION_DESC: &str = "V4_9_8";

/// Total and free bytes of the file system holding `path` (or its nearest existing ancestor);
/// free is unallocated (`f_bfree`), as Java's `File.getFreeSpace` behind upstream's ratios.
fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs the call fills.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    let frsize = st.f_frsize;
    Some((
        st.f_blocks.saturating_mul(frsize),
        st.f_bfree.saturating_mul(frsize),
    ))
}

/// Java's `runtime` text: `[ d days, h hours, m minutes, s seconds ]`.
fn uptime_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        s / 86_400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// Internal (every shard): this shard's message counters.
pub async fn shard_traffic(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return error(cmd, response_code::SERVICE_NOT_AVAILABLE, "store not open");
    };
    let mut resp = success(cmd);
    data.traffic
        .report(crate::broker::topics::now_ms())
        .to_fields(&mut resp.ext_fields);
    resp
}

/// Every shard's counters, added up; `None` if a shard could not be asked.
async fn broker_traffic(broker: &Rc<Broker>, conn: &ConnectionInfo) -> Option<TrafficReport> {
    let mut total = TrafficReport::default();
    for shard in 0..broker.shard.count {
        let ask = RemotingCommand::new_request(internal::TRAFFIC, ExtFields::new());
        let resp = broker
            .shard
            .call_shard(shard, ServiceKind::Broker, conn.clone(), ask)
            .await
            .ok()??;
        if resp.code != response_code::SUCCESS {
            return None;
        }
        total.add(&TrafficReport::from_fields(&resp.ext_fields));
    }
    Some(total)
}

/// GET_BROKER_RUNTIME_INFO.
pub async fn runtime_info(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let Some(traffic) = broker_traffic(broker, conn).await else {
        return system_busy(cmd);
    };
    let now = crate::broker::topics::now_ms();
    let mut table = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        table.insert(k.to_string(), v);
    };
    put("brokerVersionDesc", BROKER_VERSION_DESC.to_string());
    put(
        "brokerVersion",
        rmq_protocol::command::version::CURRENT.to_string(),
    );
    put("brokerActive", "true".to_string());
    put("bootTimestamp", broker.boot_ms.to_string());
    put("runtime", uptime_text(now - broker.boot_ms));
    put("shards", broker.shard.count.to_string());
    let (topics, groups, channels) =
        broker.with_state(|s| (s.topics.len(), s.groups.len(), s.clients.channel_count()));
    put("topicCount", topics.to_string());
    put("subscriptionGroupCount", groups.to_string());
    put("clientChannelCount", channels.to_string());
    put("putTps", tps_text(&traffic.put_tps));
    put("getTransferedTps", tps_text(&traffic.get_tps));
    put("getTransferredTps", tps_text(&traffic.get_tps));
    put("msgPutTotalTodayNow", traffic.put_total.to_string());
    put("msgGetTotalTodayNow", traffic.get_total.to_string());
    put(
        "msgPutTotalTodayMorning",
        traffic.today_morning.0.to_string(),
    );
    put(
        "msgGetTotalTodayMorning",
        traffic.today_morning.1.to_string(),
    );
    put(
        "msgPutTotalYesterdayMorning",
        traffic.yesterday_morning.0.to_string(),
    );
    put(
        "msgGetTotalYesterdayMorning",
        traffic.yesterday_morning.1.to_string(),
    );
    match disk_space(&broker.config.store_path_commit_log) {
        Some((total, free)) => {
            let used_ratio = if total == 0 {
                0.0
            } else {
                // Ratios of byte counts: the precision lost to f64 does not matter here.
                #[allow(clippy::cast_precision_loss)]
                let r = (total - free.min(total)) as f64 / total as f64;
                r
            };
            put("commitLogDiskRatio", used_ratio.to_string());
            put("consumeQueueDiskRatio", used_ratio.to_string());
            put(
                "commitLogDirCapacity",
                format!("Total : {total}, Free : {free}."),
            );
        }
        None => put("commitLogDiskRatio", "0.0".to_string()),
    }
    success(cmd).with_body(KVTable { table }.encode())
}

/// The effective broker configuration as `key=value` lines (`MixAll.properties2String`).
fn config_text(broker: &Broker) -> String {
    let c = &broker.config;
    let mut p: BTreeMap<&str, String> = BTreeMap::new();
    p.insert("brokerClusterName", c.broker_cluster_name.clone());
    p.insert("brokerName", c.broker_name.clone());
    p.insert("brokerId", c.broker_id.to_string());
    p.insert("brokerRole", format!("{:?}", c.broker_role));
    p.insert("namesrvAddr", c.namesrv_addrs.join(";"));
    p.insert("brokerIP1", c.broker_ip1.clone());
    p.insert("brokerIP2", c.broker_ip2.clone());
    p.insert("listenPort", c.listen_port.to_string());
    p.insert("haListenPort", c.ha_listen_port.to_string());
    p.insert(
        "storePathRootDir",
        c.store_path_root_dir.display().to_string(),
    );
    p.insert(
        "storePathCommitLog",
        c.store_path_commit_log.display().to_string(),
    );
    p.insert(
        "mappedFileSizeCommitLog",
        c.mapped_file_size_commit_log.to_string(),
    );
    p.insert(
        "mappedFileSizeConsumeQueue",
        c.mapped_file_size_consume_queue.to_string(),
    );
    p.insert("flushDiskType", format!("{:?}", c.flush_disk_type));
    p.insert(
        "flushIntervalCommitLog",
        c.flush_interval_commit_log_ms.to_string(),
    );
    p.insert("syncFlushTimeout", c.sync_flush_timeout_ms.to_string());
    p.insert("fileReservedTime", c.file_reserved_time_hours.to_string());
    p.insert("deleteWhen", c.delete_when.clone());
    p.insert("maxMessageSize", c.max_message_size.to_string());
    p.insert(
        "autoCreateTopicEnable",
        c.auto_create_topic_enable.to_string(),
    );
    p.insert(
        "defaultTopicQueueNums",
        c.default_topic_queue_nums.to_string(),
    );
    p.insert(
        "autoCreateSubscriptionGroup",
        c.auto_create_subscription_group.to_string(),
    );
    p.insert("clusterTopicEnable", c.cluster_topic_enable.to_string());
    p.insert("brokerTopicEnable", c.broker_topic_enable.to_string());
    p.insert("traceTopicEnable", c.trace_topic_enable.to_string());
    p.insert("msgTraceTopicName", c.msg_trace_topic_name.clone());
    p.insert("brokerPermission", c.broker_permission.to_string());
    p.insert(
        "notifyConsumerIdsChangedEnable",
        c.notify_consumer_ids_changed_enable.to_string(),
    );
    p.insert(
        "registerNameServerPeriod",
        c.register_name_server_period_ms.to_string(),
    );
    p.insert(
        "channelExpiredTimeout",
        c.channel_expired_timeout_ms.to_string(),
    );
    p.insert(
        "flushConsumerOffsetInterval",
        c.flush_consumer_offset_interval_ms.to_string(),
    );
    p.insert("longPollingEnable", c.long_polling_enable.to_string());
    p.insert("shortPollingTimeMills", c.short_polling_time_ms.to_string());
    p.insert("defaultQueryMaxNum", c.default_query_max_num.to_string());
    p.insert("messageIndexEnable", c.message_index_enable.to_string());
    p.insert("regionId", c.region_id.clone());
    p.insert("traceOn", c.trace_on.to_string());
    let mut out = String::new();
    for (k, v) in p {
        out.push_str(k);
        out.push('=');
        out.push_str(&v);
        out.push('\n');
    }
    out
}

/// GET_BROKER_CONFIG: body = the configuration as properties text.
pub fn broker_config(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    success(cmd).with_body(config_text(broker).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_java_shaped() {
        assert_eq!(
            uptime_text(90_061_000),
            "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"
        );
        assert_eq!(uptime_text(-5), "[ 0 days, 0 hours, 0 minutes, 0 seconds ]");
    }

    #[test]
    fn disk_space_of_a_missing_dir_uses_its_ancestor() {
        let (total, free) = disk_space(Path::new("/tmp/rmq-no-such-dir/a/b")).unwrap();
        assert!(total >= free);
    }
}
