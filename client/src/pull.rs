//! PULL_MESSAGE: building the request and reading the result.
//!
//! Response codes map to upstream's `PullStatus`: `SUCCESS` is FOUND, `PULL_NOT_FOUND` is
//! NO_NEW_MSG, `PULL_RETRY_IMMEDIATELY` is NO_MATCHED_MSG, `PULL_OFFSET_MOVED` is
//! OFFSET_ILLEGAL; any other code is an error. A FOUND reply's body is decoded record by
//! record (zero-copy bodies); a malformed body is an error, never a panic.

use std::time::Duration;

use rmq_protocol::body::{MessageQueue, SubscriptionData};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use rmq_protocol::message::sysflag::pull as pull_flag;
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::error::{broker_error, reply_header, ClientResult};
use crate::message::{decode_pull_body, MessageExt};
use crate::transport::Transport;

/// What a pull found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages were returned.
    Found,
    /// Nothing new at this offset.
    NoNewMsg,
    /// Messages exist but none matched the subscription.
    NoMatchedMsg,
    /// The offset is outside the queue; restart from `next_begin_offset`.
    OffsetIllegal,
}

/// A pull's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    /// What was found.
    pub status: PullStatus,
    /// Where the next pull starts.
    pub next_begin_offset: i64,
    /// The queue's smallest offset.
    pub min_offset: i64,
    /// The queue's next free offset.
    pub max_offset: i64,
    /// The messages (FOUND only), already filtered by tag.
    pub messages: Vec<MessageExt>,
}

/// One pull's parameters.
#[derive(Debug, Clone)]
pub struct PullParams<'a> {
    /// Consumer group.
    pub group: &'a str,
    /// Queue to read.
    pub queue: &'a MessageQueue,
    /// First offset wanted.
    pub offset: i64,
    /// Most messages wanted.
    pub max_msg_nums: i32,
    /// Offset to commit along with the pull (clustering), if any.
    pub commit_offset: Option<i64>,
    /// Let the broker hold the pull this long when nothing is there (long polling).
    pub suspend: Option<Duration>,
    /// The subscription (sent with the pull, as upstream's push consumer does).
    pub subscription: &'a SubscriptionData,
}

/// The PULL_MESSAGE request for `params`.
pub fn build_pull_request(params: &PullParams<'_>) -> RemotingCommand {
    let sys_flag = pull_flag::build(
        params.commit_offset.is_some(),
        params.suspend.is_some(),
        true,
        false,
        false,
    );
    let header = PullMessageRequestHeader {
        consumer_group: params.group.to_string(),
        topic: params.queue.topic.clone(),
        queue_id: params.queue.queue_id,
        queue_offset: params.offset,
        max_msg_nums: params.max_msg_nums,
        sys_flag,
        commit_offset: params.commit_offset.unwrap_or(0),
        suspend_timeout_millis: params
            .suspend
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        subscription: Some(params.subscription.sub_string.clone()),
        sub_version: params.subscription.sub_version,
        expression_type: Some(params.subscription.expression_type.clone()),
        max_msg_bytes: None,
        request_source: None,
        proxy_froward_client_id: None,
    };
    RemotingCommand::new_request(request_code::PULL_MESSAGE, ExtFields::with_capacity(12))
        .with_header(&header)
}

/// Read a PULL response from `addr` for `queue`, keeping only messages `subscription` wants.
pub fn parse_pull_response(
    addr: &str,
    queue: &MessageQueue,
    subscription: &SubscriptionData,
    response: &RemotingCommand,
) -> ClientResult<PullResult> {
    let status = match response.code {
        response_code::SUCCESS => PullStatus::Found,
        response_code::PULL_NOT_FOUND => PullStatus::NoNewMsg,
        response_code::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMsg,
        response_code::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
        _code => return Err(broker_error(addr, response)),
    };
    let header: PullMessageResponseHeader = reply_header(addr, response)?;
    let mut messages = Vec::new();
    if status == PullStatus::Found {
        if let Some(body) = &response.body {
            messages = decode_pull_body(body, &queue.broker_name)?;
        }
        // The broker filters by tag hash; hashes collide, so check the tag text too.
        if !subscription.is_sub_all() {
            messages.retain(|m| m.tags().is_some_and(|t| subscription.tags_set.contains(t)));
        }
    }
    Ok(PullResult {
        status,
        next_begin_offset: header.next_begin_offset,
        min_offset: header.min_offset,
        max_offset: header.max_offset,
        messages,
    })
}

/// Pull once from `addr`.
pub async fn pull<T: Transport>(
    transport: &T,
    addr: &str,
    params: &PullParams<'_>,
    timeout: Duration,
) -> ClientResult<PullResult> {
    let response = transport
        .invoke(addr, build_pull_request(params), timeout)
        .await?;
    parse_pull_response(addr, params.queue, params.subscription, &response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::stored_record;
    use crate::ClientError;
    use rmq_protocol::header::CommandHeader;

    fn response(code: i32, body: Option<Vec<u8>>) -> RemotingCommand {
        let mut r = RemotingCommand {
            code,
            ..RemotingCommand::default()
        };
        PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 7,
            min_offset: 0,
            max_offset: 9,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        }
        .write_to(&mut r.ext_fields);
        r.body = body.map(Into::into);
        r
    }

    #[test]
    fn request_carries_queue_offset_and_flags() {
        let q = MessageQueue::new("T", "b", 3);
        let sub = SubscriptionData::from_expression("T", "*", 5);
        let req = build_pull_request(&PullParams {
            group: "G",
            queue: &q,
            offset: 42,
            max_msg_nums: 32,
            commit_offset: Some(40),
            suspend: Some(Duration::from_secs(15)),
            subscription: &sub,
        });
        let h: PullMessageRequestHeader = req.decode_header().unwrap();
        assert_eq!((h.queue_id, h.queue_offset, h.commit_offset), (3, 42, 40));
        assert_eq!(h.suspend_timeout_millis, 15_000);
        assert_eq!(
            h.sys_flag,
            pull_flag::COMMIT_OFFSET | pull_flag::SUSPEND | pull_flag::SUBSCRIPTION
        );
        assert_eq!(h.sub_version, 5);
    }

    #[test]
    fn statuses_map_and_tags_are_rechecked() {
        let q = MessageQueue::new("T", "b", 1);
        let all = SubscriptionData::from_expression("T", "*", 0);
        let body = stored_record("T", 1, 7, b"x");
        let found = parse_pull_response("a", &q, &all, &response(0, Some(body.clone()))).unwrap();
        assert_eq!(found.status, PullStatus::Found);
        assert_eq!(found.messages.len(), 1);
        assert_eq!(found.next_begin_offset, 7);
        // The record's tag is TagA; a TagB subscription drops it.
        let only_b = SubscriptionData::from_expression("T", "TagB", 0);
        let filtered = parse_pull_response("a", &q, &only_b, &response(0, Some(body))).unwrap();
        assert!(filtered.messages.is_empty());
        for (code, status) in [
            (response_code::PULL_NOT_FOUND, PullStatus::NoNewMsg),
            (
                response_code::PULL_RETRY_IMMEDIATELY,
                PullStatus::NoMatchedMsg,
            ),
            (response_code::PULL_OFFSET_MOVED, PullStatus::OffsetIllegal),
        ] {
            assert_eq!(
                parse_pull_response("a", &q, &all, &response(code, None))
                    .unwrap()
                    .status,
                status
            );
        }
        assert!(matches!(
            parse_pull_response("a", &q, &all, &response(response_code::SYSTEM_ERROR, None)),
            Err(ClientError::Broker { code: 1, .. })
        ));
        // A reply without the required header fields is an error, not a panic.
        let bare = RemotingCommand::default();
        assert!(matches!(
            parse_pull_response("a", &q, &all, &bare),
            Err(ClientError::BadHeader { .. })
        ));
        // A torn body is an error.
        let torn = response(0, Some(vec![0, 0, 0, 50, 1, 2]));
        assert!(matches!(
            parse_pull_response("a", &q, &all, &torn),
            Err(ClientError::BadBody { .. })
        ));
    }
}
