//! The fixed-length categorical encoding of a space: a list of genes, each with a name
//! and a number of values. Every space kind has one ([`crate::SearchSpace::encoding`]):
//! a cell has one gene per edge (its operation), a macro network one per layer (its
//! block), a chain `max_layers` slots of a kind gene (0 = end of the network) and the
//! option genes of every layer kind the space uses.
//!
//! [`crate::SearchSpace::encode`] and [`crate::SearchSpace::decode`] convert between an
//! architecture and its genome (a `Vec<usize>`, gene `i` below `genes()[i].cardinality`).
//! For cells and macro networks the encoding is a bijection; for chains, genes that the
//! layer of their slot does not use are written 0 by `encode` and ignored by `decode`, and
//! a decoded genome may be outside the space (check it with `contains`).

use serde::{Deserialize, Serialize};

/// One position of a genome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gene {
    /// What it decides, e.g. `edge 2<-1`, `layer 3 (stage 2)`, `layer 1 kind`.
    pub name: String,
    /// Number of values it can take (`0..cardinality`).
    pub cardinality: usize,
}

/// The genes of a space, in genome order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoding {
    genes: Vec<Gene>,
}

impl Encoding {
    /// An encoding of these genes.
    pub fn new(genes: Vec<Gene>) -> Self {
        Encoding { genes }
    }

    /// The genes, in genome order.
    pub fn genes(&self) -> &[Gene] {
        &self.genes
    }

    /// Length of a genome.
    pub fn len(&self) -> usize {
        self.genes.len()
    }

    /// True for an encoding without genes (never for a checked space).
    pub fn is_empty(&self) -> bool {
        self.genes.is_empty()
    }

    /// The cardinalities, in genome order.
    pub fn cardinalities(&self) -> Vec<usize> {
        self.genes.iter().map(|g| g.cardinality).collect()
    }
}
