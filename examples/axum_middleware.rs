//! The `axum` example's Router with tower-http middleware around it: gzip for clients that
//! accept it, and an `x-served-by: hsys` header on every answer. Middleware is tower `Layer`s,
//! so it composes on hsys exactly as on `axum::serve` (no tokio runtime is involved).
//!
//!     cargo run --example axum_middleware -- http://127.0.0.1:8080/
//!     curl -i --compressed http://127.0.0.1:8080/      content-encoding: gzip, x-served-by: hsys

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use hsys::Target;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

// The Router and the `serve` function of `examples/axum.rs` (whose `main` is not used here).
#[allow(dead_code)]
#[path = "axum.rs"]
mod plain;

/// The plain example's Router, wrapped in the middleware (the last layer added is the outermost).
pub fn router() -> Router {
    plain::router().layer(CompressionLayer::new()).layer(SetResponseHeaderLayer::overriding(
        HeaderName::from_static("x-served-by"),
        HeaderValue::from_static("hsys"),
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    plain::serve(Target::service(router()))
}
