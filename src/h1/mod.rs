//! The HTTP/1 protocol, sans-I/O: bytes and time in, events and bytes out.
//!
//! Nothing in this module touches a socket, a thread or a clock.

pub mod conn;
pub mod date;
pub mod decode;
pub mod encode;
pub mod framing;
pub mod parse;

pub use conn::{Completed, Conn, Env, Phase, Progress};
