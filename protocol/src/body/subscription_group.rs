//! `SubscriptionGroupConfig` (a consumer group's settings on a broker) and its wrapper, the
//! shape of `subscriptionGroup.json` and of `GET_ALL_SUBSCRIPTIONGROUP_CONFIG` replies.
//! Fields and defaults: protocol.md §4.7.
//!
//! 5.x's `groupRetryPolicy`, `subscriptionDataSet` and the wrapper's `forbiddenTable` are
//! ignored when read and not written; 4.x and 5.x readers default them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::Fields;
use super::json_writer::JsonWriter;
use super::topic::DataVersion;
use super::{write_bean_map, write_string_map, JsonBody};
use crate::error::CodecResult;

/// `SubscriptionGroupConfig`.
// The fields mirror the Java class one for one; the booleans are independent switches.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionGroupConfig {
    /// `groupName`.
    pub group_name: String,
    /// `consumeEnable` (default true).
    pub consume_enable: bool,
    /// `consumeFromMinEnable` (default true).
    pub consume_from_min_enable: bool,
    /// `consumeBroadcastEnable` (default true).
    pub consume_broadcast_enable: bool,
    /// `consumeMessageOrderly` (default false).
    pub consume_message_orderly: bool,
    /// `retryQueueNums` (default 1).
    pub retry_queue_nums: i32,
    /// `retryMaxTimes` (default 16).
    pub retry_max_times: i32,
    /// `brokerId` (default 0, the master).
    pub broker_id: i64,
    /// `whichBrokerWhenConsumeSlowly` (default 1).
    pub which_broker_when_consume_slowly: i64,
    /// `notifyConsumerIdsChangedEnable` (default true).
    pub notify_consumer_ids_changed_enable: bool,
    /// `groupSysFlag` (default 0).
    pub group_sys_flag: i32,
    /// `consumeTimeoutMinute` (default 15).
    pub consume_timeout_minute: i32,
    /// `attributes` (5.x); written only when set.
    pub attributes: Option<BTreeMap<String, String>>,
}

impl SubscriptionGroupConfig {
    /// A group with Java's defaults.
    pub fn new(group_name: impl Into<String>) -> Self {
        SubscriptionGroupConfig {
            group_name: group_name.into(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            attributes: None,
        }
    }
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig::new("")
    }
}

impl JsonBody for SubscriptionGroupConfig {
    const WHAT: &'static str = "SubscriptionGroupConfig";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        if let Some(attributes) = &self.attributes {
            w.field("attributes");
            write_string_map(w, attributes);
        }
        w.field("brokerId");
        w.int(self.broker_id);
        w.field("consumeBroadcastEnable");
        w.bool(self.consume_broadcast_enable);
        w.field("consumeEnable");
        w.bool(self.consume_enable);
        w.field("consumeFromMinEnable");
        w.bool(self.consume_from_min_enable);
        w.field("consumeMessageOrderly");
        w.bool(self.consume_message_orderly);
        w.field("consumeTimeoutMinute");
        w.int(i64::from(self.consume_timeout_minute));
        w.field("groupName");
        w.string(&self.group_name);
        w.field("groupSysFlag");
        w.int(i64::from(self.group_sys_flag));
        w.field("notifyConsumerIdsChangedEnable");
        w.bool(self.notify_consumer_ids_changed_enable);
        w.field("retryMaxTimes");
        w.int(i64::from(self.retry_max_times));
        w.field("retryQueueNums");
        w.int(i64::from(self.retry_queue_nums));
        w.field("whichBrokerWhenConsumeSlowly");
        w.int(self.which_broker_when_consume_slowly);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let d = SubscriptionGroupConfig::default();
        Ok(SubscriptionGroupConfig {
            group_name: f.string_or_empty("groupName"),
            consume_enable: f.bool_or("consumeEnable", d.consume_enable)?,
            consume_from_min_enable: f
                .bool_or("consumeFromMinEnable", d.consume_from_min_enable)?,
            consume_broadcast_enable: f
                .bool_or("consumeBroadcastEnable", d.consume_broadcast_enable)?,
            consume_message_orderly: f
                .bool_or("consumeMessageOrderly", d.consume_message_orderly)?,
            retry_queue_nums: f.int_or("retryQueueNums", d.retry_queue_nums)?,
            retry_max_times: f.int_or("retryMaxTimes", d.retry_max_times)?,
            broker_id: f.long_or("brokerId", d.broker_id)?,
            which_broker_when_consume_slowly: f.long_or(
                "whichBrokerWhenConsumeSlowly",
                d.which_broker_when_consume_slowly,
            )?,
            notify_consumer_ids_changed_enable: f.bool_or(
                "notifyConsumerIdsChangedEnable",
                d.notify_consumer_ids_changed_enable,
            )?,
            group_sys_flag: f.int_or("groupSysFlag", d.group_sys_flag)?,
            consume_timeout_minute: f.int_or("consumeTimeoutMinute", d.consume_timeout_minute)?,
            attributes: f.string_map("attributes")?,
        })
    }
}

/// `SubscriptionGroupWrapper`: every group's config with the table's version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionGroupWrapper {
    /// `subscriptionGroupTable`: group name to config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// `dataVersion`.
    pub data_version: DataVersion,
}

impl JsonBody for SubscriptionGroupWrapper {
    const WHAT: &'static str = "SubscriptionGroupWrapper";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("dataVersion");
        self.data_version.write_json(w);
        w.field("subscriptionGroupTable");
        write_bean_map(w, &self.subscription_group_table);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(SubscriptionGroupWrapper {
            subscription_group_table: f
                .keyed("subscriptionGroupTable", SubscriptionGroupConfig::from_json)?,
            data_version: f
                .get("dataVersion")
                .map(DataVersion::from_json)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_java_defaults() {
        let g = SubscriptionGroupConfig::decode(br#"{"groupName":"CG"}"#).unwrap();
        assert_eq!(g, SubscriptionGroupConfig::new("CG"));
        assert!(
            g.consume_enable && g.consume_broadcast_enable && g.notify_consumer_ids_changed_enable
        );
        assert_eq!(
            (
                g.retry_queue_nums,
                g.retry_max_times,
                g.consume_timeout_minute
            ),
            (1, 16, 15)
        );
        assert_eq!(g.which_broker_when_consume_slowly, 1);
    }

    #[test]
    fn encodes_sorted_like_fastjson() {
        assert_eq!(
            String::from_utf8(SubscriptionGroupConfig::new("CG").encode()).unwrap(),
            r#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupName":"CG","groupSysFlag":0,"notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
        );
    }
}
