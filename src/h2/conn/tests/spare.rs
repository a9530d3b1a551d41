//! An idle connection gives its stream table, head and staging vectors back to the thread.

use super::{Client, Harness, answer_frames};
use crate::h2::frame::kind;

#[test]
fn an_idle_connection_holds_no_vector_and_the_next_request_is_served_alike() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/"));
    let first = answer_frames(h.feed(&input));
    assert!(h.conn.holds_no_spare(), "idle after the first answer");
    // Another connection on this thread, then the first again: the vectors go round.
    let mut other = Harness::new();
    let mut c2 = Client::new();
    let mut input2 = Client::preface();
    input2.extend(c2.get(1, "/"));
    assert_eq!(answer_frames(other.feed(&input2)).len(), 2);
    assert!(other.conn.holds_no_spare());
    for id in [3, 5, 7] {
        let ans = answer_frames(h.feed(&c.get(id, "/")));
        assert_eq!(ans.len(), 2, "{ans:?}");
        assert_eq!((ans[0].head.kind, ans[1].head.kind), (kind::HEADERS, kind::DATA));
        assert_eq!(ans[1].payload, first[1].payload);
        assert!(h.conn.holds_no_spare(), "idle after stream {id}");
    }
    // With a stream still open (its body not yet sent), the table is kept.
    let open = c.headers(9, &[(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "a")], false);
    h.feed(&open);
    assert!(!h.conn.holds_no_spare());
}
