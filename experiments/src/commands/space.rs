//! `nas space`: describe a config's search space (size, encoding, samples).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use nas_core::{Encoding, derive_seed, rng_from_seed};

use crate::config;

/// Arguments of `nas space`.
#[derive(Debug, Clone, Args)]
pub struct SpaceArgs {
    /// The experiment config (TOML).
    pub config: PathBuf,
    /// How many sample architectures to print.
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
}

/// `nas space`.
pub fn exec(args: &SpaceArgs) -> Result<()> {
    let (config_path, samples) = (&args.config, args.samples);
    let loaded = config::load(config_path)?;
    let c = &loaded.config;
    let shape = c.data.dataset.shape();
    let classes = c.data.dataset.classes();
    let space = c
        .space
        .check(shape)
        .map_err(|e| loaded.error("space", e.to_string()))?;
    let encoding = Encoding::new(&space);
    println!(
        "search space of {} for {} input ({} classes)",
        config_path.display(),
        shape,
        classes
    );
    println!("  architectures:  {}", space.count_architectures());
    for depth in space.min_layers()..=space.max_layers() {
        println!(
            "    with {depth} layer(s): {}",
            space.count_with_depth(depth)
        );
    }
    println!("  layer choices:  {}", space.variants().len());
    println!(
        "  encoding:       {} genes ({} slots x {} genes)",
        encoding.len(),
        encoding.slots(),
        encoding.genes_per_slot()
    );
    let mut rng = rng_from_seed(derive_seed(c.experiment.seed, "space-samples", 0));
    if samples > 0 {
        println!("  uniform samples:");
    }
    for _ in 0..samples {
        let arch = space.sample(&mut rng);
        let cost = arch.cost(shape, classes).map_err(anyhow::Error::msg)?;
        println!("    {arch}  ({} params, {} MACs)", cost.params, cost.macs);
    }
    Ok(())
}
