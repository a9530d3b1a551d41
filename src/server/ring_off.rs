//! The io_uring backend's ring, in a build without the `io-uring` feature: none can be made, so
//! every I/O thread uses `epoll` ([`Backend::IoUring`](super::Backend::IoUring) is refused).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// A completion (never produced).
#[derive(Clone, Copy, Debug)]
pub(super) struct Done {
    pub tag: u64,
    pub result: i32,
}

impl Done {
    pub fn more(&self) -> bool {
        false
    }
}

/// No ring: a value of this type cannot exist.
#[derive(Debug)]
pub(super) enum Ring {}

impl Ring {
    pub fn new() -> io::Result<Ring> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "hsys was built without the io-uring feature"))
    }

    pub fn close(&mut self, _: RawFd, _: u64) {
        match *self {}
    }

    /// # Safety
    /// Never callable: no ring exists.
    pub unsafe fn send(&mut self, _: RawFd, _: *const u8, _: usize, _: u64) {
        match *self {}
    }

    pub fn leaked(&self) -> bool {
        match *self {}
    }

    pub fn recv(&mut self, _: RawFd, _: u64) {
        match *self {}
    }

    pub fn accept_multishot(&mut self, _: RawFd, _: u64) {
        match *self {}
    }

    pub fn writable(&mut self, _: RawFd, _: u64) {
        match *self {}
    }

    pub fn hangup(&mut self, _: RawFd, _: u64) {
        match *self {}
    }

    pub fn readable_multishot(&mut self, _: RawFd, _: u64) {
        match *self {}
    }

    pub fn cancel(&mut self, _: u64, _: u64) {
        match *self {}
    }

    pub fn wait(&mut self, _: Option<Duration>) -> io::Result<()> {
        match *self {}
    }

    pub fn take(&mut self, _: &mut Vec<Done>) {
        match *self {}
    }

    pub fn received(&self, _: &Done) -> (&[u8], Option<u16>) {
        match *self {}
    }

    pub fn give_back(&mut self, _: u16) {
        match *self {}
    }

    pub fn finish(&mut self, _: impl FnMut(&Done)) {
        match *self {}
    }
}
