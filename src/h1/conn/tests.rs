//! Unit tests of the connection state machine, on bytes alone (no sockets).

use super::*;

/// Every idle keep-alive connection carries this struct: rare states stay boxed.
#[test]
fn connection_state_stays_small() {
    let size = std::mem::size_of::<Conn>();
    eprintln!("h1::Conn: {size} bytes");
    assert!(size <= 72, "h1::Conn grew to {size} bytes");
    assert!(std::mem::size_of::<Option<Tail>>() <= 16);
}
