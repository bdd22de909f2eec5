//! `rmq-client`: thin producer / consumer / admin client. Being built under issue 6.
