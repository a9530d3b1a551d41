//! The response cache, after http.sys's kernel cache: answers the application marked with a
//! [`CachePolicy`](crate::CachePolicy) are stored, and later requests for the same URL are
//! answered by the I/O thread itself, before any handler or queue.
//!
//! Sans-I/O: no socket, no clock (time is handed in). The dispatch (`server::dispatch`) asks
//! [`rules::ask`] of each request, looks it up through its thread's [`Reader`], serves a hit
//! through the application layer's `Response` (so any codec serves it), and offers an answer
//! given inline to the [`Store`]; a queued request's answer is offered by the application
//! thread that gives it (the store is the application layer's `CacheSink`).
//!
//! - `rules.rs`: what may be served and stored (http.sys's rules).
//! - `conditional.rs`: `If-None-Match` and `If-Modified-Since` against a stored answer (`304`).
//! - `entry.rs`: a stored answer, and the read-only table the I/O threads look up.
//! - `hash.rs`: the table's keyed hash (seeded folded multiplies).
//! - `store.rs`: the shared store (one lock; CLOCK eviction under size and entry limits; TTL
//!   expiry; flushes), its publishing, and each thread's `Reader`.

pub mod conditional;
pub(crate) mod entry;
mod hash;
pub(crate) mod rules;
pub(crate) mod store;

pub(crate) use entry::Entry;
pub use store::CacheLimits;
pub(crate) use store::{Reader, Store};

#[cfg(test)]
mod tests;
