//! `cargo bench -p nas-bench`: one module per topic, fixed seeds, data set up outside
//! the timed code, throughput in elements (images) per second.

mod inference;
mod loading;
mod strategies;
mod training;

criterion::criterion_main!(
    training::benches,
    inference::benches,
    loading::benches,
    strategies::benches
);
