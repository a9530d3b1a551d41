//! Byte pipes between an I/O thread and an application thread: a queued request's body on its
//! way in ([`BodyPipe`]) and a streamed answer on its way out ([`StreamPipe`]). A leaf: nothing
//! here imports the rest of the crate.

mod body;
mod stream;

pub(crate) use body::BodyPipe;
pub(crate) use stream::{StreamPipe, StreamSource};
