//! Who a request comes from: the TCP peer, or, when the peer is a proxy
//! the operator named (`TIDEMARK_TRUSTED_PROXIES`), the client address it
//! put in `X-Forwarded-For`. From anyone else `X-Forwarded-For` is ignored,
//! so a client cannot claim another address.
//!
//! What the address decides: the per-address connection cap. A trusted
//! proxy's own connections carry many clients and count in the total only;
//! each long-lived stream it forwards (WebSocket, SSE) takes a place under
//! the per-address cap of the client it is for ([`Client::hold`]).

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;

use super::caps::{ConnCaps, ConnPermit, Refusal, canonical};

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Parses `10.0.0.5, 10.1.0.0/16, ::1`; an entry that is neither an
    /// address nor a network is an error naming it.
    pub fn parse(list: &[String]) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for raw in list.iter().flat_map(|s| s.split(',')) {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "TIDEMARK_TRUSTED_PROXIES: `{entry}` is not an IP address or network (10.0.0.5, 10.0.0.0/8, ::1)"
                    )
                })?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets.into()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client a trusted proxy forwarded for: the rightmost address in
    /// `X-Forwarded-For` that is not itself a trusted proxy (the entries to
    /// its left were written by the client and prove nothing). `None` when
    /// there is no such address or an entry does not parse.
    pub fn forwarded_for(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let mut entries: Vec<&str> = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            entries.extend(v.to_str().ok()?.split(','));
        }
        for e in entries.iter().rev() {
            let ip: IpAddr = e.trim().parse().ok()?;
            if !self.contains(ip) {
                return Some(canonical(ip));
            }
        }
        None
    }
}

/// A request's client, as a request extension.
#[derive(Clone)]
pub struct Client {
    pub ip: IpAddr,
    /// The request came through a trusted proxy.
    pub via_proxy: bool,
    caps: Arc<ConnCaps>,
}

impl Client {
    pub(super) fn new(
        peer: IpAddr,
        trusted: &TrustedProxies,
        headers: &HeaderMap,
        caps: &Arc<ConnCaps>,
    ) -> Client {
        let forwarded = trusted
            .contains(peer)
            .then(|| trusted.forwarded_for(headers))
            .flatten();
        Client {
            ip: forwarded.unwrap_or(canonical(peer)),
            via_proxy: forwarded.is_some(),
            caps: caps.clone(),
        }
    }

    /// For a long-lived stream: through a trusted proxy, a place under the
    /// per-address cap of the client it is for (held as long as the
    /// stream); a direct connection already holds one from its accept.
    pub fn hold(&self) -> Result<Option<ConnPermit>, Refusal> {
        if self.via_proxy {
            self.caps.admit_client(self.ip).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for s in v {
            h.append("x-forwarded-for", s.parse().unwrap());
        }
        h
    }

    #[test]
    fn rightmost_untrusted_address_wins() {
        let t = TrustedProxies::parse(&["10.0.0.0/8, 127.0.0.1".into()]).unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(t.forwarded_for(&xff(&["203.0.113.7"])), ip("203.0.113.7"));
        // A client that writes its own header gets its claim skipped.
        assert_eq!(
            t.forwarded_for(&xff(&["1.1.1.1, 203.0.113.7"])),
            ip("203.0.113.7")
        );
        // Two proxies in a row: both skipped.
        assert_eq!(
            t.forwarded_for(&xff(&["203.0.113.7, 10.1.2.3", "127.0.0.1"])),
            ip("203.0.113.7")
        );
        assert_eq!(t.forwarded_for(&xff(&["10.0.0.1"])), None);
        assert_eq!(t.forwarded_for(&xff(&["203.0.113.7, junk"])), None);
        assert_eq!(t.forwarded_for(&HeaderMap::new()), None);
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }
}
