//! Byte pipes between an I/O thread and an application thread: a queued request's body on its
//! way in ([`BodyPipe`]) and a streamed answer on its way out ([`StreamPipe`]). A leaf: nothing
//! here imports the rest of the crate.

mod body;
mod stream;

pub(crate) use body::BodyPipe;
pub(crate) use stream::{StreamPipe, StreamSource};

/// Wakes an application task from an I/O thread: the waker is the application's executor's
/// code, so a panic in it is contained here and costs that wake only, never the thread.
pub(crate) fn wake(waker: std::task::Waker) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
}
