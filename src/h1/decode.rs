//! Request body decoders: `Content-Length` and chunked.
