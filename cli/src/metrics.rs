//! `--metrics URL`: the Prometheus exposition of the server's counters, served by hsys itself on
//! a URL prefix in a group of its own.

use std::sync::{Arc, OnceLock};

use hsys::{METRICS_CONTENT_TYPE, Metrics, Request, Response, Server, Target, UrlGroups};

/// The metrics option (flattened into the binary's arguments).
#[derive(clap::Args, Debug)]
pub struct MetricsArgs {
    /// Serve the Prometheus metrics (text format 0.0.4) on this URL prefix, in a URL group of
    /// its own (e.g. http://127.0.0.1:9100/metrics); its scrapes are counted as requests, as
    /// http.sys counts every request.
    #[arg(long = "metrics", value_name = "URL")]
    pub url: Option<String>,
}

/// The metrics group's handler's way to the server, which exists only once the group is made.
#[derive(Debug)]
pub struct Endpoint(Arc<OnceLock<Metrics>>);

impl Endpoint {
    /// Creates the metrics group on `url` in `groups`; the prefix as registered.
    pub fn register(groups: &mut UrlGroups, url: &str) -> Result<(Endpoint, String), hsys::Error> {
        let metrics: Arc<OnceLock<Metrics>> = Arc::default();
        let handle = Arc::clone(&metrics);
        let group = groups.create_group(Target::inline(move |req: &Request<'_>, res: &mut Response<'_>| {
            let _ = match (handle.get(), req.method()) {
                (Some(m), "GET" | "HEAD") => res.header("Content-Type", METRICS_CONTENT_TYPE).body(m.text().as_bytes()),
                // (Before the server is up: no request can come then.)
                (None, _) => res.status(503).body(b""),
                (Some(_), _) => res.status(405).header("Allow", "GET, HEAD").body(b""),
            };
        }));
        groups.add_url(group, url)?;
        Ok((Endpoint(metrics), UrlGroups::canonical_url(url)?))
    }

    /// Answers scrapes from `server`'s counters from now on.
    pub fn attach(&self, server: &Server) {
        let _ = self.0.set(server.metrics());
    }
}
