//! Small helpers shared by the producer and consumers: the wall clock, this host's IP and the
//! client id (`ip@instance`, as upstream's `MQClientInstance`).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The address this host would use to reach other hosts, or 127.0.0.1 when there is none.
/// Connecting a UDP socket sends no packet; it only asks the kernel for a route.
pub fn local_ip() -> IpAddr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("10.255.255.255:1")?;
            s.local_addr()
        })
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
}

/// A client id for `instance` on this host: `ip@instance`.
pub fn client_id(instance: &str) -> String {
    format!("{}@{instance}", local_ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_has_ip_and_instance() {
        let id = client_id("42");
        let (ip, inst) = id.split_once('@').unwrap();
        assert!(ip.parse::<IpAddr>().is_ok());
        assert_eq!(inst, "42");
        assert!(now_ms() > 1_600_000_000_000);
    }
}
