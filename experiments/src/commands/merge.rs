//! `nas merge DIR`: combine the shards of an experiment.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `nas merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The output directory the shards ran into.
    pub dir: PathBuf,
    /// Write the tables even if some runs are missing (marked partial).
    #[arg(long)]
    pub allow_partial: bool,
}

/// Merges and prints the summary.
pub fn exec(args: &MergeArgs) -> Result<()> {
    crate::merge::merge(&args.dir, args.allow_partial)?.print();
    Ok(())
}
