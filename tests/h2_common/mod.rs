//! Shared HTTP/2 client helpers (the `h2` crate) for the tests that drive hsys over h2c.
#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};

/// An answer: status, headers, the whole body, and the trailers if any.
pub type Got = (u16, http::HeaderMap, Vec<u8>, Option<http::HeaderMap>);

/// Reads a whole answer, releasing flow-control capacity as its body arrives.
pub async fn read_answer(resp: ResponseFuture) -> Result<Got, h2::Error> {
    let resp = resp.await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        got.extend_from_slice(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await?;
    Ok((status, headers, got, trailers))
}

/// An h2c connection (prior knowledge) to `addr`.
pub async fn connect(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A two-thread tokio runtime for a test's client.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}
