//! `rmq-server`: the glommio shard-per-core runtime, the broker and the NameServer.
//! Being built under issue 4.
