//! The HTTP/1 protocol, sans-I/O: bytes and time in, events and bytes out.
//!
//! Nothing in this module touches a socket, a thread or a clock.

pub mod conn;
pub mod date;
pub mod decode;
pub mod encode;
pub mod framing;
pub mod parse;
pub mod request;
pub mod response;

pub use conn::{Conn, Env, Handler, IgnoreBody, Phase, Progress};
pub use request::{Request, Version, is_standard_method};
pub use response::Response;
