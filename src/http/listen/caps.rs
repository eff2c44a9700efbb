//! Connection caps: all clients together, and one IP address. A connection
//! holds a [`ConnPermit`] from accept to close (through a WebSocket upgrade
//! too); over either cap it is refused at once.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

/// The caps and what is open now.
pub struct ConnCaps {
    max: usize,
    max_per_ip: usize,
    open: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Server,
    Address,
}

impl ConnCaps {
    /// `max` connections in all and `max_per_ip` from one address (0: no cap).
    pub fn new(max: usize, max_per_ip: usize) -> Arc<ConnCaps> {
        Arc::new(ConnCaps {
            max: if max == 0 { usize::MAX } else { max },
            max_per_ip: if max_per_ip == 0 {
                usize::MAX
            } else {
                max_per_ip
            },
            open: AtomicUsize::new(0),
            per_ip: DashMap::new(),
        })
    }

    /// A permit for one more connection from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        self.admit_as(ip, true)
    }

    /// [`ConnCaps::admit`]; `per_ip` false for a trusted proxy, whose
    /// connections carry many clients (they count in the total only; each
    /// client's streams count under its own address, [`ConnCaps::admit_client`]).
    pub fn admit_as(self: &Arc<Self>, ip: IpAddr, per_ip: bool) -> Result<ConnPermit, Refusal> {
        let ip = canonical(ip);
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Server);
        }
        let counted = per_ip && self.take_ip(ip).is_ok();
        if per_ip && !counted {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Address);
        }
        Ok(ConnPermit {
            caps: self.clone(),
            ip: counted.then_some(ip),
            total: true,
        })
    }

    /// A place under the per-address cap only, for a long-lived stream a
    /// trusted proxy forwarded for client `ip` (its connection is already
    /// in the total).
    pub fn admit_client(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        let ip = canonical(ip);
        self.take_ip(ip).map_err(|()| Refusal::Address)?;
        Ok(ConnPermit {
            caps: self.clone(),
            ip: Some(ip),
            total: false,
        })
    }

    fn take_ip(&self, ip: IpAddr) -> Result<(), ()> {
        if self.max_per_ip == usize::MAX {
            return Ok(());
        }
        let mut n = self.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(());
        }
        *n += 1;
        Ok(())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// An IPv4 client seen on an IPv6 socket counts as its IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One admitted connection; dropping it frees its place.
pub struct ConnPermit {
    caps: Arc<ConnCaps>,
    /// The address it counts under (none: a trusted proxy's connection).
    ip: Option<IpAddr>,
    /// It counts in the total.
    total: bool,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        if self.caps.max_per_ip != usize::MAX
            && let Some(ip) = self.ip
            && let dashmap::Entry::Occupied(mut e) = self.caps.per_ip.entry(ip)
        {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
        if self.total {
            self.caps.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_free() {
        let caps = ConnCaps::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = caps.admit(a).unwrap();
        let _p2 = caps.admit(a).unwrap();
        assert_eq!(caps.admit(a).err(), Some(Refusal::Address));
        let _p3 = caps.admit(b).unwrap();
        assert_eq!(caps.admit(b).err(), Some(Refusal::Server));
        assert_eq!(caps.open(), 3);
        drop(p1);
        assert_eq!(caps.open(), 2);
        let _p4 = caps.admit("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(caps.admit(a).err(), Some(Refusal::Server));
    }

    #[test]
    fn a_trusted_proxy_counts_in_the_total_and_its_clients_per_address() {
        let caps = ConnCaps::new(3, 1);
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let a = caps.admit_as(proxy, false).unwrap();
        let _b = caps.admit_as(proxy, false).unwrap();
        assert_eq!(
            caps.open(),
            2,
            "past the per-address cap of 1, in the total"
        );
        let c = caps.admit_client(client).unwrap();
        assert_eq!(caps.admit_client(client).err(), Some(Refusal::Address));
        assert_eq!(caps.open(), 2, "a client's place is not another connection");
        drop(c);
        let _c = caps.admit_client(client).unwrap();
        drop(a);
        assert_eq!(caps.open(), 1);
    }

    #[test]
    fn zero_means_no_cap() {
        let caps = ConnCaps::new(0, 0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..1000).map(|_| caps.admit(ip).unwrap()).collect();
        assert_eq!(caps.open(), 1000);
        drop(held);
        assert_eq!(caps.open(), 0);
        assert!(caps.per_ip.is_empty());
    }
}
