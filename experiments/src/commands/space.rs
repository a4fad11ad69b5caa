//! `nas space`: describe a config's search space (kind, size, encoding, samples).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use nas_core::{derive_seed, rng_from_seed};

use crate::config;
use crate::setup;

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
    let loaded = config::load(&args.config)?;
    let c = &loaded.config;
    let shape = c.data.dataset.shape();
    let classes = c.data.dataset.classes();
    let space = setup::bind_space(&loaded, shape)?;
    println!(
        "{} search space of {} for {} input ({} classes)",
        space.kind(),
        args.config.display(),
        shape,
        classes
    );
    println!("  architectures:  {}", space.count_architectures());
    if let Some(chain) = space.as_chain() {
        for depth in chain.min_layers()..=chain.max_layers() {
            println!(
                "    with {depth} layer(s): {}",
                chain.count_with_depth(depth)
            );
        }
        println!("  layer choices:  {}", chain.variants().len());
    }
    if let Some(cell) = space.as_cell() {
        let p = cell.params();
        let ops: Vec<String> = p.ops.iter().map(ToString::to_string).collect();
        println!(
            "  cell:           {} nodes, {} edges, ops: {}",
            p.nodes,
            space.encoding().len(),
            ops.join(", ")
        );
        if let Some(distinct) = cell.count_distinct(1_000_000) {
            println!(
                "  distinct cells: {distinct} up to isomorphism (NAS-Bench-201's rule; none is dropped from the space)"
            );
        }
        println!(
            "  skeleton:       stem of {} channels, {} stage(s) of {} cells, channels doubling at each reduction block",
            p.skeleton.stem_channels, p.skeleton.stages, p.skeleton.cells_per_stage
        );
    }
    if let Some(mac) = space.as_macro() {
        let p = mac.params();
        let blocks: Vec<String> = p.blocks.iter().map(ToString::to_string).collect();
        println!(
            "  layers:         {} in stages of {:?}, blocks (key digits 0..): {}",
            space.encoding().len(),
            p.skeleton.layers_per_stage,
            blocks.join(", ")
        );
        println!(
            "  skeleton:       stem of {} channels, channels doubling at each stage, head of {}",
            p.skeleton.stem_channels, p.skeleton.head_channels
        );
    }
    let enc = space.encoding();
    let cards: Vec<usize> = enc.cardinalities();
    println!(
        "  encoding:       {} genes, cardinalities {}",
        enc.len(),
        compact(&cards)
    );
    for g in enc.genes().iter().take(12) {
        println!("    {} ({} values)", g.name, g.cardinality);
    }
    if enc.len() > 12 {
        println!("    ... {} more", enc.len() - 12);
    }
    let mut rng = rng_from_seed(derive_seed(c.experiment.seed, "space-samples", 0));
    if args.samples > 0 {
        println!("  uniform samples:");
    }
    for _ in 0..args.samples {
        let arch = space.sample(&mut rng);
        let cost = space.cost(&arch, classes).map_err(anyhow::Error::msg)?;
        let key = space
            .key(&arch)
            .map_or_else(String::new, |k| format!("key {k}, "));
        println!(
            "    {arch}  ({key}{} params, {} MACs)",
            cost.params, cost.macs
        );
    }
    Ok(())
}

/// `[5, 5, 5]` as `5 x 3`; otherwise the list.
fn compact(values: &[usize]) -> String {
    match values {
        [first, ..] if values.iter().all(|v| v == first) => format!("{first} x {}", values.len()),
        _ => format!("{values:?}"),
    }
}
