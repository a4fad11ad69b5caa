//! `nas report DIR`: regenerate every output of a directory from its journal.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `nas report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// An output directory of `nas run`.
    pub dir: PathBuf,
}

/// Regenerates and prints the summary.
pub fn exec(args: &ReportArgs) -> Result<()> {
    let table = crate::derive::report(&args.dir)?;
    println!("{table}");
    println!("report: {}", args.dir.join(crate::report::REPORT).display());
    Ok(())
}
