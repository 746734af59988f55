//! The address settings of TCP adapters, in IRIS's syntax: `LocalInterface` (which local
//! address to listen on, or connect from) and `AllowedIPAddresses` (which peers a
//! listener accepts).
//!
//! Both are checked when the production is validated, so a typo is an error naming the
//! file, line, item and setting. An allow-list entry that could not be read must never
//! be skipped: a list left empty that way would let every peer in.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Where `LocalInterface` says to bind: `None` is every interface (listeners) or the
/// system's choice (connections).
///
/// IRIS's selector stores `address (description)`, e.g. `10.1.2.3 (eth0)` or
/// `10.1.2.3 (IPv4 Ethernet0)`; `eth0 (10.1.2.3)` and a bare address are taken too. A bare
/// interface name is refused with a hint, since an interface's addresses can change under
/// a running engine.
pub fn local_interface(text: &str) -> Result<Option<IpAddr>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    // IRIS stores the address first and a description in brackets ("10.1.2.3 (eth0)",
    // "10.1.2.3 (IPv4 Ethernet0)"); the interface name first ("eth0 (10.1.2.3)") is read too.
    let (before, inside) = match (text.find('('), text.ends_with(')')) {
        (Some(open), true) => (text[..open].trim(), Some(text[open + 1..text.len() - 1].trim())),
        _ => (text, None),
    };
    before.parse::<IpAddr>().ok().or_else(|| inside.and_then(|i| i.parse::<IpAddr>().ok())).map(Some).ok_or_else(|| {
        format!(
            "LocalInterface {text:?} is not an IP address: give one, as IRIS stores it with its interface \
             (\"10.1.2.3 (eth0)\"), or alone"
        )
    })
}

/// A host a peer may connect from: an address, or a name resolved when the listener starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerHost {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A server name.
    Name(String),
}

/// One `AllowedIPAddresses` entry: a host and, optionally, the only source port allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedPeer {
    /// Who.
    pub host: PeerHost,
    /// From which port (IRIS: `addr:port` for IPv4 and names, `addr|port` for IPv6).
    pub port: Option<u16>,
}

/// Reads `AllowedIPAddresses`: a comma-separated list of IPv4 or IPv6 addresses or server
/// names, each optionally with a port. Empty means any peer. Any entry that cannot be
/// read is an error, naming the entry.
pub fn allowed_peers(text: &str) -> Result<Vec<AllowedPeer>, String> {
    let mut peers = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        peers.push(allowed_peer(entry).ok_or_else(|| {
            format!(
                "AllowedIPAddresses entry {entry:?} is not an address, a server name, or either with a port \
                 (10.1.2.3, 10.1.2.3:3298, fe80::1|3298, pas.trust.nhs.uk)"
            )
        })?);
    }
    Ok(peers)
}

fn allowed_peer(entry: &str) -> Option<AllowedPeer> {
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p > 0);
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(AllowedPeer { host: PeerHost::Ip(ip), port: None });
    }
    if let Some((host, p)) = entry.rsplit_once('|') {
        let ip = host.trim().parse::<std::net::Ipv6Addr>().ok()?;
        return Some(AllowedPeer { host: PeerHost::Ip(IpAddr::V6(ip)), port: Some(port(p)?) });
    }
    let (host, p) = match entry.rsplit_once(':') {
        Some((host, p)) => (host.trim(), Some(port(p)?)),
        None => (entry, None),
    };
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Some(AllowedPeer { host: PeerHost::Ip(IpAddr::V4(ip)), port: p });
    }
    // Dotted digits that did not read as an address (10.1.2.300, 10.1.2.3x) are a
    // mistyped address, not a server name.
    let labels: Vec<&str> = host.split('.').collect();
    let looks_numeric =
        labels.len() > 1 && labels[..labels.len() - 1].iter().all(|l| l.chars().all(|c| c.is_ascii_digit()));
    let name_ok = !looks_numeric
        && !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        });
    name_ok.then(|| AllowedPeer { host: PeerHost::Name(host.to_ascii_lowercase()), port: p })
}

/// The allow-list with its names resolved to addresses, as a listener checks it.
#[derive(Clone, Debug, Default)]
pub struct Allowed {
    /// `(address, port)` pairs; `None` allows any source port. Empty allows every peer.
    peers: Vec<(IpAddr, Option<u16>)>,
}

impl Allowed {
    /// Resolves the names in `peers` (once, at listener start). A name that does not
    /// resolve is an error: the operator meant someone to be let in.
    pub fn resolve(peers: &[AllowedPeer]) -> Result<Allowed, String> {
        let mut out = Vec::new();
        for p in peers {
            match &p.host {
                PeerHost::Ip(ip) => out.push((*ip, p.port)),
                PeerHost::Name(name) => {
                    let found: Vec<SocketAddr> = (name.as_str(), 0)
                        .to_socket_addrs()
                        .map_err(|e| format!("AllowedIPAddresses: cannot resolve {name:?}: {e}"))?
                        .collect();
                    out.extend(found.iter().map(|a| (a.ip(), p.port)));
                }
            }
        }
        Ok(Allowed { peers: out })
    }

    /// Whether `peer` may connect. An IPv4 peer reaching an IPv6 socket (`::ffff:a.b.c.d`)
    /// is compared as IPv4.
    pub fn admits(&self, peer: SocketAddr) -> bool {
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.peers.is_empty() || self.peers.iter().any(|(a, p)| *a == ip && p.is_none_or(|p| p == peer.port()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_interface_takes_an_address_alone_or_as_iris_stores_it_with_its_interface_and_refuses_a_bare_name() {
        assert_eq!(local_interface(""), Ok(None));
        assert_eq!(local_interface("127.0.0.1"), Ok(Some("127.0.0.1".parse().unwrap())));
        assert_eq!(local_interface("eth0 (10.1.2.3)"), Ok(Some("10.1.2.3".parse().unwrap())));
        assert_eq!(local_interface(" lo (::1) "), Ok(Some("::1".parse().unwrap())));
        // As IRIS stores it: the address first, the interface described in brackets.
        assert_eq!(local_interface("10.1.2.3 (IPv4 Ethernet0)"), Ok(Some("10.1.2.3".parse().unwrap())));
        assert_eq!(local_interface("10.1.2.3 (eth0)"), Ok(Some("10.1.2.3".parse().unwrap())));
        assert_eq!(local_interface("fe80::1 (IPv6 eth0)"), Ok(Some("fe80::1".parse().unwrap())));
        let err = local_interface("eth0").unwrap_err();
        assert!(err.contains("eth0") && err.contains("10.1.2.3 (eth0)"), "{err}");
        assert!(local_interface("eth0 (lo)").is_err(), "no address on either side");
    }

    #[test]
    fn allowed_addresses_read_every_iris_form_and_refuse_what_they_cannot_read() {
        let peers =
            allowed_peers(" 10.1.2.3, 10.1.2.4:3298 ,fe80::1|3298, ::1, PAS.trust.nhs.uk:2575,localhost").unwrap();
        let ip = |s: &str| PeerHost::Ip(s.parse().unwrap());
        assert_eq!(
            peers,
            vec![
                AllowedPeer { host: ip("10.1.2.3"), port: None },
                AllowedPeer { host: ip("10.1.2.4"), port: Some(3298) },
                AllowedPeer { host: ip("fe80::1"), port: Some(3298) },
                AllowedPeer { host: ip("::1"), port: None },
                AllowedPeer { host: PeerHost::Name("pas.trust.nhs.uk".into()), port: Some(2575) },
                AllowedPeer { host: PeerHost::Name("localhost".into()), port: None },
            ]
        );
        assert_eq!(allowed_peers(""), Ok(vec![]));
        for bad in [
            "10.1.2.3:port",
            "10.1.2.3:0",
            "!10.1.2.3",
            "10.1.2.300x",
            "10.1.2.300",
            "fe80::1|x",
            "a b",
            "10.1.2.3,,x_y",
        ] {
            let err = allowed_peers(bad).expect_err(bad);
            assert!(err.contains("AllowedIPAddresses entry"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_allow_list_admits_listed_peers_and_ports_only_and_an_empty_one_everyone() {
        let allowed = Allowed::resolve(&allowed_peers("10.1.2.3, 10.1.2.4:3298, localhost").unwrap()).unwrap();
        let peer = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(allowed.admits(peer("10.1.2.3:40000")));
        assert!(allowed.admits(peer("10.1.2.4:3298")));
        assert!(!allowed.admits(peer("10.1.2.4:3299")), "only the listed source port");
        assert!(!allowed.admits(peer("10.1.2.5:3298")));
        assert!(allowed.admits(peer("127.0.0.1:5000")), "localhost resolved");
        assert!(allowed.admits(peer("[::ffff:10.1.2.3]:1")), "IPv4 seen through an IPv6 socket");
        assert!(Allowed::resolve(&[]).unwrap().admits(peer("192.0.2.1:1")));
        let unknown = allowed_peers("no-such-host.invalid").unwrap();
        assert!(Allowed::resolve(&unknown).unwrap_err().contains("no-such-host.invalid"));
    }
}
