//! Load benchmark of the remote engine (written below).
fn main() {}
