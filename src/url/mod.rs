//! URL prefixes and the namespace that routes requests to them (sans-I/O).
