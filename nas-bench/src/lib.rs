//! # nas-bench
//!
//! Criterion benchmarks of nas (`cargo bench -p nas-bench`), one module per topic in
//! `benches/`: training-step throughput of the reference models, forward-only
//! inference, IDX loading of full MNIST and strategy overhead. `compare/run.sh` puts
//! the engine side by side with PyTorch on CPU; the `trial_modes` example measures
//! whether two threads serve one trial or two trials better.
//!
//! This library holds what the benchmarks, the example and the comparison share: the
//! reference models and where the MNIST files are.

use std::path::PathBuf;

/// The reference CNN of the benchmarks and of the PyTorch comparison (the head, a dense
/// layer to the 10 classes, is implied).
pub const REFERENCE_CNN: &str = "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2";

/// The reference MLP: 784-128-10.
pub const REFERENCE_MLP: &str = "dense128-relu";

/// The reference models by short name.
pub const REFERENCE_MODELS: [(&str, &str); 2] = [("mlp", REFERENCE_MLP), ("cnn", REFERENCE_CNN)];

/// Environment variable that overrides where the full MNIST IDX files are.
pub const MNIST_DIR_VAR: &str = "NAS_MNIST_DIR";

/// The directory of the full MNIST IDX files: `$NAS_MNIST_DIR`, else `shared/data/mnist`
/// next to the repository (`../shared/data/mnist` from its root), if it exists.
pub fn mnist_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(MNIST_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist"),
    };
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::{Architecture, InputShape};

    #[test]
    fn reference_models_parse_and_cost_what_the_docs_say() {
        let cnn: Architecture = REFERENCE_CNN.parse().unwrap();
        let mlp: Architecture = REFERENCE_MLP.parse().unwrap();
        let input = InputShape::new(1, 28, 28);
        assert_eq!(
            cnn.as_chain().unwrap().cost(input, 10).unwrap().params,
            20_490
        );
        assert_eq!(
            mlp.as_chain().unwrap().cost(input, 10).unwrap().params,
            101_770
        );
    }
}
