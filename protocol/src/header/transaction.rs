//! Transaction headers: `END_TRANSACTION` (37, producer → broker, oneway) and
//! `CHECK_TRANSACTION_STATE` (39, broker → producer, oneway). protocol.md §2.11.

/// `commitOrRollback` values (`MessageSysFlag` transaction types).
pub mod commit_or_rollback {
    /// Unknown state: ignored by the broker.
    pub const NOT_TYPE: i32 = 0;
    /// Commit (`0x2 << 2`).
    pub const COMMIT: i32 = 0x2 << 2;
    /// Roll back (`0x3 << 2`).
    pub const ROLLBACK: i32 = 0x3 << 2;
}

command_header! {
    /// `EndTransactionRequestHeader`.
    pub struct EndTransactionRequestHeader {
        /// 5.x: the half message's topic.
        optional topic: String = "topic";
        /// Producer group.
        required producer_group: String = "producerGroup";
        /// The half message's consume-queue offset (the send result's queueOffset).
        required tran_state_table_offset: i64 = "tranStateTableOffset";
        /// The half message's commitlog offset (from its offset msgId).
        required commit_log_offset: i64 = "commitLogOffset";
        /// [`commit_or_rollback`] value.
        required commit_or_rollback: i32 = "commitOrRollback";
        /// Whether this answers a `CHECK_TRANSACTION_STATE` (Java `Boolean ... = false`).
        defaulted(false) from_transaction_check: bool = "fromTransactionCheck";
        /// The message's `UNIQ_KEY`.
        required msg_id: String = "msgId";
        /// Transaction id.
        optional transaction_id: String = "transactionId";
    }
}

command_header! {
    /// `CheckTransactionStateRequestHeader` (broker → producer).
    pub struct CheckTransactionStateRequestHeader {
        /// 5.x: the real topic.
        optional topic: String = "topic";
        /// The half message's consume-queue offset.
        required tran_state_table_offset: i64 = "tranStateTableOffset";
        /// The half message's commitlog offset.
        required commit_log_offset: i64 = "commitLogOffset";
        /// The message's `UNIQ_KEY`.
        optional msg_id: String = "msgId";
        /// Transaction id.
        optional transaction_id: String = "transactionId";
        /// The half message's offset msgId.
        optional offset_msg_id: String = "offsetMsgId";
        /// 5.x base field: the broker name.
        optional broker_name: String = "bname";
    }
}
