//! The `nas` command-line runner.
fn main() {}
