//! `nas slurm`: write (and submit) a Slurm job array and its merge job.

use anyhow::Result;

pub use crate::slurm::SlurmOptions as SlurmArgs;

/// Writes (or submits) the scripts and prints what was done.
pub fn exec(args: &SlurmArgs) -> Result<()> {
    print!("{}", crate::slurm::slurm(args)?);
    Ok(())
}
