//! The HTTP/1 protocol, sans-I/O: bytes and time in, events and bytes out.

pub mod decode;
pub mod framing;
