//! Binding resolution, generations, snapshots, and in-memory handshakes on resolved configs.
