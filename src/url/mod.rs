//! URL prefixes (`http://`, `https://`) and the namespace that routes requests to them (sans-I/O).

pub mod namespace;
pub mod path;
pub mod prefix;

pub use namespace::{Namespace, RegisterError, Route};
pub use path::{normalize_path, split_target, target_authority};
pub use prefix::{Host, Scheme, UrlPrefix};
