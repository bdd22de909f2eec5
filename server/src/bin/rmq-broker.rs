//! `rmq-broker`: the broker is not built yet (issue 4, second half). Exits with a clear message
//! instead of pretending to run; the NameServer is available as `rmq-namesrv`.
fn main() {
    eprintln!("rmq-broker: the broker is not implemented yet (issue 4); nothing was started. The NameServer runs as rmq-namesrv.");
    std::process::exit(2);
}
