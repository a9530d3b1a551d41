//! HTTP/2 (RFC 9113), sans-I/O: frames ([`frame`]) and the connection state machine
//! ([`conn::Conn`]), which decodes header blocks with `crate::hpack`, builds the application
//! layer's `Request` per stream, hands it to the same `Service` as HTTP/1, and encodes answers
//! as HEADERS and DATA frames under flow control. No socket, thread or clock.

pub mod conn;
pub mod frame;

pub use conn::{Conn, Counts};
