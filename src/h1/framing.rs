//! Request framing rules: which body a request has, from its version and headers.
