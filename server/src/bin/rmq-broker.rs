//! `rmq-broker`: not built yet (issue 4). Exits with a clear message instead of pretending to run.
fn main() {
    eprintln!("rmq-broker: the broker and NameServer are not implemented yet (issue 4); nothing was started");
    std::process::exit(2);
}
