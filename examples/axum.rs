//! An axum `Router` served by hsys: the Router is a tower service, so it is a URL group's target
//! (`Target::service`) like an inline handler or a request queue. Its handlers run on hsys's I/O
//! threads (one per core); hsys's URL routing, limits and timeouts stay in front of it.
//!
//!     cargo build --release --example axum
//!     target/release/examples/axum [URL]...        (default http://127.0.0.1:8080/)
//!     curl http://127.0.0.1:8080/users/7            {"id":7}
//!     curl --data-binary @some.file http://127.0.0.1:8080/echo
//!
//! SIGINT or SIGTERM stops it gracefully (answers in flight are finished).

use axum::body::Body;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use hsys::{Server, Target, UrlGroups};
use serde_json::{Value, json};

/// `GET /`'s body: `0123456789` repeated to 512 bytes (the answer of the `hsys` binary).
static HELLO: [u8; 512] = digits();

const fn digits() -> [u8; 512] {
    let mut body = [0; 512];
    let mut i = 0;
    while i < body.len() {
        body[i] = b'0' + (i % 10) as u8;
        i += 1;
    }
    body
}

/// `GET /`: 200, `text/plain`, 512 bytes, nothing allocated for the body.
async fn hello() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain")], &HELLO[..])
}

/// `GET /users/{id}`: `{"id": <id>}` (an id that is not a number: axum's `400`).
async fn user(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id }))
}

/// `POST /echo`: the request body, streamed back as it arrives (never held whole).
async fn echo(body: Body) -> Body {
    body
}

/// The application: any other path is the Router's `404`.
pub fn router() -> Router {
    Router::new().route("/", get(hello)).route("/users/{id}", get(user)).route("/echo", post(echo))
}

/// Serves `target` on the URLs given as arguments (default `http://127.0.0.1:8080/`) until
/// SIGINT or SIGTERM.
pub fn serve(target: Target) -> Result<(), Box<dyn std::error::Error>> {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        urls.push("http://127.0.0.1:8080/".into());
    }
    let mut groups = UrlGroups::new();
    let app = groups.create_group(target);
    for url in &urls {
        groups.add_url(app, url)?;
    }
    // Watched before the server starts: an early SIGTERM stops it rather than killing it.
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
    let server = Server::builder().serve_groups(groups)?;
    let stop = server.shutdown_handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop.shutdown();
        }
    });
    println!("Listening on {}", urls.join(" "));
    server.run()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serve(Target::service(router()))
}
