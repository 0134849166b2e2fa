//! The SSRF guard: which addresses outbound connections may reach (docs/protocols.md §5, after Svix's
//! list and smokescreen's order). Addresses are canonicalised first (`::ffff:a.b.c.d` is IPv4), the
//! operator's allow-list is consulted, then every non-public range is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::LazyLock;

use ipnet::IpNet;

/// What may be reached.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// CIDRs exempt from the guard (`SWITCHBOARD_OUTBOUND_ALLOW`; tests use `127.0.0.0/8`).
    pub allow: Vec<IpNet>,
    /// Whether `http://` targets are permitted (`SWITCHBOARD_OUTBOUND_ALLOW_HTTP`).
    pub allow_http: bool,
}

impl Policy {
    /// Parses an allow-list: CIDRs or single addresses, separated by commas or spaces.
    pub fn parse_allow(list: &str) -> Result<Vec<IpNet>, String> {
        list.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map_err(|_| format!("'{s}' is not a CIDR (e.g. 127.0.0.0/8) or an IP address"))
            })
            .collect()
    }

    /// `Err(reason)` when `ip` may not be reached.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let ip = ip.to_canonical();
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match blocked_range(ip) {
            Some(range) => Err(Blocked { ip, range }),
            None => Ok(()),
        }
    }
}

/// A refused address and the range that refused it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{ip} is a {range} address, which outbound requests may not reach")]
pub struct Blocked {
    pub ip: IpAddr,
    pub range: &'static str,
}

/// The non-public range `ip` (canonical) falls in, if any.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

const V4_RANGES: &[(&str, &str)] = &[
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved or broadcast"),
];

const V6_RANGES: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    // IPv4-compatible (deprecated) and IPv4-translated forms embed an IPv4 address.
    ("::/96", "IPv4-embedding"),
    ("::ffff:0:0:0/96", "IPv4-embedding"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

/// The built-in ranges, parsed once (every new connection is checked against them).
type Ranges = Vec<(IpNet, &'static str)>;

fn parsed(ranges: &[(&str, &'static str)]) -> Ranges {
    ranges
        .iter()
        .map(|(cidr, name)| (cidr.parse().expect("a valid built-in CIDR"), *name))
        .collect()
}

static V4: LazyLock<Ranges> = LazyLock::new(|| parsed(V4_RANGES));
static V6: LazyLock<Ranges> = LazyLock::new(|| parsed(V6_RANGES));

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    find(&V4, IpAddr::V4(ip))
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    find(&V6, IpAddr::V6(ip))
}

fn find(ranges: &Ranges, ip: IpAddr) -> Option<&'static str> {
    ranges
        .iter()
        .find_map(|(net, name)| net.contains(&ip).then_some(*name))
}

/// The address a URL host names without DNS: an IP literal in any spelling the URL standard
/// accepts (`127.1`, `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`), or a `localhost` name.
pub fn literal_address(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(*v6).to_canonical()),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost"))
                .then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(url: &str) -> Option<IpAddr> {
        let url = url::Url::parse(url).unwrap();
        literal_address(&url.host().unwrap())
    }

    #[test]
    fn every_spelling_of_loopback_is_seen_through() {
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
        ] {
            let ip = host_of(url).unwrap_or_else(|| panic!("{url} names no address"));
            assert_eq!(blocked_range(ip), Some("loopback"), "{url} → {ip}");
        }
        assert_eq!(host_of("https://example.com/"), None);
    }

    #[test]
    fn private_and_reserved_ranges_are_refused() {
        let policy = Policy::default();
        for (ip, range) in [
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.1", "private"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("100.100.0.1", "carrier-grade NAT"),
            ("0.0.0.0", "'this network'"),
            ("255.255.255.255", "reserved or broadcast"),
            ("224.0.0.1", "multicast"),
            ("::", "unspecified"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
            ("64:ff9b::a00:1", "NAT64"),
            ("2002:7f00:1::", "6to4"),
        ] {
            let err = policy.check(ip.parse().unwrap()).unwrap_err();
            assert_eq!(err.range, range, "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let policy = Policy::default();
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(policy.check(ip.parse().unwrap()).is_ok(), "{ip}");
        }
    }

    #[test]
    fn the_allow_list_exempts_ranges_including_mapped_spellings() {
        let policy = Policy {
            allow: Policy::parse_allow("127.0.0.0/8, ::1 10.0.0.5").unwrap(),
            allow_http: false,
        };
        assert!(policy.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("::ffff:127.0.0.2".parse().unwrap()).is_ok());
        assert!(policy.check("::1".parse().unwrap()).is_ok());
        assert!(policy.check("10.0.0.5".parse().unwrap()).is_ok());
        assert!(policy.check("10.0.0.6".parse().unwrap()).is_err());
        assert!(Policy::parse_allow("127.0.0.0/33").is_err());
        assert!(Policy::parse_allow("nonsense").is_err());
    }
}
