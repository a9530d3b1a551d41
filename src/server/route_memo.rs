//! One I/O thread's memo of its last routing decision: the group a request was routed to and
//! where in its target the normalised path lies, by the raw request (port, local address, host
//! as routed, target). A client repeating a target — pipelined, or polling — is routed by one
//! compare instead of splitting, normalising and matching its target against the namespace
//! again (~250 instructions of a ~2,300-instruction request). Cleared when the thread takes
//! another routing table.

use std::cell::RefCell;
use std::net::IpAddr;
use std::ops::Range;

use crate::cache::entry::same;

/// The longest host and target remembered together (a longer request is routed each time).
const MAX_KEY: usize = 512;

/// The memo (interior mutability: the dispatch sees the thread's state through shared borrows).
#[derive(Debug, Default)]
pub(super) struct RouteMemo {
    last: RefCell<Option<Memo>>,
}

/// What was routed last.
#[derive(Debug)]
struct Memo {
    port: u16,
    local_ip: IpAddr,
    host_len: usize,
    /// The host, then the target.
    key: Vec<u8>,
    /// The group's index in the routing table.
    index: usize,
    /// Where the normalised path lies in the target (it was the target's own bytes).
    path: Range<usize>,
}

impl RouteMemo {
    /// Forgets what was routed (the routing table changed).
    pub(super) fn clear(&mut self) {
        *self.last.get_mut() = None;
    }

    /// The group index and normalised path of a request for `target` with `host` on `port` and
    /// `local_ip`, if it is the request routed last.
    #[inline]
    pub(super) fn get<'r>(
        &self,
        port: u16,
        local_ip: &IpAddr,
        host: &[u8],
        target: &'r str,
    ) -> Option<(usize, &'r str)> {
        let last = self.last.borrow();
        let m = last.as_ref()?;
        let same_request = m.port == port
            && m.host_len == host.len()
            && m.key.len() == host.len() + target.len()
            && m.key.get(..host.len()).is_some_and(|k| same(k, host))
            && m.key.get(host.len()..).is_some_and(|k| same(k, target.as_bytes()))
            && m.local_ip == *local_ip;
        if !same_request {
            return None;
        }
        if m.path.start == 0 && m.path.end == target.len() {
            return Some((m.index, target)); // the whole target (no query): no slicing
        }
        Some((m.index, target.get(m.path.clone())?))
    }

    /// Remembers that a request for `target` with `host` on `port` and `local_ip` routed to group
    /// `index` by `path` — only when `path` is bytes of `target` (no normalisation rewrote it).
    pub(super) fn set(&self, port: u16, local_ip: &IpAddr, host: &[u8], target: &str, index: usize, path: &str) {
        let start = (path.as_ptr() as usize).wrapping_sub(target.as_ptr() as usize);
        let path = start..start.wrapping_add(path.len());
        if path.start > target.len() || path.end > target.len() || host.len() + target.len() > MAX_KEY {
            return;
        }
        let mut last = self.last.borrow_mut();
        let m = last.get_or_insert_with(|| Memo {
            port,
            local_ip: *local_ip,
            host_len: 0,
            key: Vec::with_capacity(64),
            index,
            path: 0..0,
        });
        m.port = port;
        m.local_ip = *local_ip;
        m.host_len = host.len();
        m.key.clear();
        m.key.extend_from_slice(host);
        m.key.extend_from_slice(target.as_bytes());
        m.index = index;
        m.path = path;
    }
}

#[cfg(test)]
mod tests {
    use super::RouteMemo;
    use std::net::{IpAddr, Ipv4Addr};

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn the_same_request_is_remembered_and_any_other_is_not() {
        let mut memo = RouteMemo::default();
        let target = "/a/b?x=1";
        assert_eq!(memo.get(80, &LOCAL, b"h", target), None);
        memo.set(80, &LOCAL, b"h", target, 3, target.get(..4).unwrap_or_default());
        // Another buffer holding the same bytes (the next request).
        let again = String::from(target);
        assert_eq!(memo.get(80, &LOCAL, b"h", &again), Some((3, "/a/b")));
        assert_eq!(memo.get(81, &LOCAL, b"h", target), None);
        assert_eq!(memo.get(80, &IpAddr::V4(Ipv4Addr::UNSPECIFIED), b"h", target), None);
        assert_eq!(memo.get(80, &LOCAL, b"hh", target), None);
        assert_eq!(memo.get(80, &LOCAL, b"", target), None);
        assert_eq!(memo.get(80, &LOCAL, b"h", "/a/b?x=2"), None);
        assert_eq!(memo.get(80, &LOCAL, b"h", "/a/b"), None);
        // The host's bytes and the target's are told apart.
        memo.set(80, &LOCAL, b"h/", "a", 1, "a");
        assert_eq!(memo.get(80, &LOCAL, b"h", "/a"), None);
        memo.clear();
        assert_eq!(memo.get(80, &LOCAL, b"h/", "a"), None);
    }

    #[test]
    fn a_path_that_is_not_the_targets_bytes_is_not_remembered() {
        let memo = RouteMemo::default();
        memo.set(80, &LOCAL, b"h", "/a/../b", 0, "/b");
        assert_eq!(memo.get(80, &LOCAL, b"h", "/a/../b"), None);
        let long = format!("/{}", "x".repeat(600));
        memo.set(80, &LOCAL, b"h", &long, 0, &long);
        assert_eq!(memo.get(80, &LOCAL, b"h", &long), None);
    }
}
