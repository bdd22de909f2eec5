//! `SEND_MESSAGE` (10), `SEND_MESSAGE_V2` (310), `SEND_BATCH_MESSAGE` (320): request and response
//! headers (protocol.md §2.2).
//!
//! One [`SendMessageRequestHeader`] serves both namings: code 10 uses the full field names of
//! Java's `SendMessageRequestHeader` (V1), codes 310 and 320 the one-letter names of
//! `SendMessageRequestHeaderV2` (`a`..`n`). [`SendMessageRequestHeader::read_for_code`] picks
//! by code, as the broker's `parseRequestHeader` does. The reply codes 324/325 use a different
//! Java class and are not served here.
//!
//! The header keeps `batch` as sent: the C++ clients send `"batch":"1"` / `"m":"1"`, which Java
//! reads as false (real-clients.md Q4). Whether code 320 without `m` is a batch is the
//! server's decision, not the codec's.

use super::HeaderError;
use crate::codes::request_code;
use crate::command::{ExtFields, RemotingCommand};

dual_named_header! {
    /// The send request header, in either naming.
    pub struct SendMessageRequestHeader {
        /// Producer group.
        required producer_group: String = "producerGroup" / "a";
        /// Topic.
        required topic: String = "topic" / "b";
        /// The auto-create template topic (`"TBW102"`).
        required default_topic: String = "defaultTopic" / "c";
        /// Queues for an auto-created topic (client default 4).
        required default_topic_queue_nums: i32 = "defaultTopicQueueNums" / "d";
        /// Target queue; negative means "broker picks".
        required queue_id: i32 = "queueId" / "e";
        /// Message sysFlag from the client (compression, transaction bits).
        required sys_flag: i32 = "sysFlag" / "f";
        /// Born time, ms.
        required born_timestamp: i64 = "bornTimestamp" / "g";
        /// User flag.
        required flag: i32 = "flag" / "h";
        /// Properties string.
        optional properties: String = "properties" / "i";
        /// Times consumed before (retry sends).
        optional reconsume_times: i32 = "reconsumeTimes" / "j";
        /// Unit mode.
        optional unit_mode: bool = "unitMode" / "k";
        /// Retry budget (V2 comment: consumeRetryTimes).
        optional max_reconsume_times: i32 = "maxReconsumeTimes" / "l";
        /// Whether the body is a batch (`Boolean.parseBoolean`: `"1"` is false).
        optional batch: bool = "batch" / "m";
        /// 5.x target broker name; V1 carries it in the base field `bname`.
        optional broker_name: String = "bname" / "n";
    }
}

/// Which naming a send code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendHeaderNaming {
    /// Full names (`SEND_MESSAGE`, 10).
    V1,
    /// One-letter names (`SEND_MESSAGE_V2` 310, `SEND_BATCH_MESSAGE` 320).
    V2,
}

impl SendHeaderNaming {
    /// The naming `code` uses, or `None` if `code` is not a send code served here.
    pub const fn for_code(code: i32) -> Option<Self> {
        match code {
            request_code::SEND_MESSAGE => Some(SendHeaderNaming::V1),
            request_code::SEND_MESSAGE_V2 | request_code::SEND_BATCH_MESSAGE => {
                Some(SendHeaderNaming::V2)
            }
            _ => None,
        }
    }
}

impl SendMessageRequestHeader {
    /// Read the naming that `code` uses (10 → V1; 310, 320 → V2).
    pub fn read_for_code(code: i32, ext: &ExtFields) -> Result<Self, HeaderError> {
        match SendHeaderNaming::for_code(code) {
            Some(SendHeaderNaming::V1) => Self::read_v1(ext),
            Some(SendHeaderNaming::V2) => Self::read_v2(ext),
            None => Err(HeaderError::NotASendCode { code }),
        }
    }

    /// Write the naming that `code` uses.
    pub fn write_for_code(&self, code: i32, ext: &mut ExtFields) -> Result<(), HeaderError> {
        match SendHeaderNaming::for_code(code) {
            Some(SendHeaderNaming::V1) => self.write_v1(ext),
            Some(SendHeaderNaming::V2) => self.write_v2(ext),
            None => return Err(HeaderError::NotASendCode { code }),
        }
        Ok(())
    }
}

impl RemotingCommand {
    /// Read the send header of a `SEND_MESSAGE` / `SEND_MESSAGE_V2` / `SEND_BATCH_MESSAGE` request,
    /// in the naming its code uses.
    pub fn decode_send_header(&self) -> Result<SendMessageRequestHeader, HeaderError> {
        SendMessageRequestHeader::read_for_code(self.code, &self.ext_fields)
    }

    /// Write `header` in the naming this command's code uses (set the code first).
    pub fn with_send_header(
        mut self,
        header: &SendMessageRequestHeader,
    ) -> Result<Self, HeaderError> {
        header.write_for_code(self.code, &mut self.ext_fields)?;
        self.has_ext_fields = true;
        Ok(self)
    }
}

command_header! {
    /// The send response header (`SendMessageResponseHeader`).
    pub struct SendMessageResponseHeader {
        /// Offset message id(s) of the stored record(s); comma-separated for a batch.
        required msg_id: String = "msgId";
        /// Queue the message went to.
        required queue_id: i32 = "queueId";
        /// Consume-queue offset (of the first message of a batch).
        required queue_offset: i64 = "queueOffset";
        /// The message's `UNIQ_KEY`.
        optional transaction_id: String = "transactionId";
        /// Inner-batch topics only.
        optional batch_uniq_id: String = "batchUniqId";
        /// 5.x timer messages only.
        optional recall_handle: String = "recallHandle";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::CommandHeader;

    fn sample() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: -1,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some("KEYS\u{1}k\u{2}".into()),
            reconsume_times: None,
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(true),
            broker_name: Some("broker-a".into()),
        }
    }

    #[test]
    fn namings_are_java_s() {
        let h = sample();
        let mut v1 = ExtFields::new();
        h.write_v1(&mut v1);
        assert_eq!(v1.get("producerGroup"), Some("PG"));
        assert_eq!(v1.get("bname"), Some("broker-a"));
        assert_eq!(v1.get("batch"), Some("true"));
        assert!(!v1.contains_key("reconsumeTimes"));
        let mut v2 = ExtFields::new();
        h.write_v2(&mut v2);
        assert_eq!(
            v2.iter().map(|(k, _)| k).collect::<String>(),
            "abcdefghikmn"
        );
        assert_eq!(v2.get("e"), Some("-1"));
        assert_eq!(SendMessageRequestHeader::read_v1(&v1), Ok(h.clone()));
        assert_eq!(SendMessageRequestHeader::read_v2(&v2), Ok(h.clone()));
        assert_eq!(
            SendMessageRequestHeader::read_for_code(10, &v1),
            Ok(h.clone())
        );
        assert_eq!(
            SendMessageRequestHeader::read_for_code(310, &v2),
            Ok(h.clone())
        );
        assert_eq!(SendMessageRequestHeader::read_for_code(320, &v2), Ok(h));
        // The wrong naming finds nothing.
        assert_eq!(
            SendMessageRequestHeader::read_for_code(310, &v1),
            Err(HeaderError::Missing { field: "a" })
        );
        assert_eq!(
            SendMessageRequestHeader::read_for_code(11, &v1),
            Err(HeaderError::NotASendCode { code: 11 })
        );
    }

    #[test]
    fn send_header_follows_the_command_code() {
        let h = sample();
        let cmd = RemotingCommand::new_request(request_code::SEND_BATCH_MESSAGE, ExtFields::new())
            .with_send_header(&h)
            .unwrap();
        assert_eq!(cmd.ext_fields.get("b"), Some("T"));
        assert_eq!(cmd.decode_send_header(), Ok(h.clone()));
        assert!(
            RemotingCommand::new_request(request_code::PULL_MESSAGE, ExtFields::new())
                .with_send_header(&h)
                .is_err()
        );
    }

    #[test]
    fn response_header_names() {
        let h = SendMessageResponseHeader {
            msg_id: "7F00000100002A9F0000000000000000".into(),
            queue_id: 1,
            queue_offset: 42,
            transaction_id: Some("U".into()),
            batch_uniq_id: None,
            recall_handle: None,
        };
        let mut ext = ExtFields::new();
        h.write_to(&mut ext);
        assert_eq!(
            ext.iter().collect::<Vec<_>>(),
            [
                ("msgId", "7F00000100002A9F0000000000000000"),
                ("queueId", "1"),
                ("queueOffset", "42"),
                ("transactionId", "U"),
            ]
        );
    }
}
