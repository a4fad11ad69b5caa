//! Search spaces, and the one interface strategies use to search them.
//!
//! A space is written in a config's `[space]` section ([`SearchSpaceParams`]) as one of
//! three kinds, checked once against the input shape into a [`SearchSpace`]:
//!
//! - `kind = "chain"` (the default when `kind` is absent): a sequence of conv, pooling,
//!   dense and dropout layers ([`chain`](mod@chain));
//! - `kind = "cell"`: NAS-Bench-201's cell DAG ([`CellParams`]);
//! - `kind = "macro"`: NAS-Bench-Macro's MobileNet-style stages ([`MacroParams`]).
//!
//! [`SearchSpace`] offers every kind the same operations, and strategies use nothing else
//! (they never match on the kind): exact [counting](SearchSpace::count_architectures),
//! [uniform sampling](SearchSpace::sample), [enumeration](SearchSpace::enumerate) of small
//! spaces, membership and canonical [text](SearchSpace::parse), the fixed-length
//! categorical [encoding](SearchSpace::encoding), the one-edit
//! [neighbourhood](SearchSpace::neighbours) and [mutation](SearchSpace::mutate), the
//! [genetic operators](SearchSpace::genetics), the numeric [features](SearchSpace::features)
//! of surrogate models (BANANAS's path encoding for cells), the gene-by-gene
//! [walk](SearchSpace::walk) of a factorized policy and the [actions](SearchSpace::actions_after)
//! of a sequential controller. A fourth kind implements these in this module (a
//! fixed-length kind only maps genes to architectures: see `fixed`).

mod cell;
pub mod chain;
mod chain_encoding;
mod chain_ops;
pub mod features;
mod fixed;
mod macro_space;

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize, Serializer};

pub use cell::{CellParams, CellSkeleton, CellSpace};
pub use chain::{
    ChainParams, ChainSpace, Conv2dChoices, DenseChoices, DropoutChoices, MAX_FILTERS, MAX_KERNEL,
    MAX_LAYERS, MAX_UNITS, SECTION,
};
pub use chain_encoding::{ChainEncoding, ChainGene, GeneRole};
pub use macro_space::{MacroParams, MacroSkeleton, MacroSpace};

use crate::architecture::{Architecture, Cost};
use crate::cell::CellOp;
use crate::encoding::{Encoding, Gene};
use crate::error::{Error, Result};
use crate::macro_net::Block;
use crate::shape::InputShape;
use chain_ops::ChainGenetics;
use fixed::FixedKind;

/// Rejects empty lists and repeated names of `space.<name>` (names as written in configs).
pub(crate) fn check_names<T: PartialEq + fmt::Display>(name: &str, list: &[T]) -> Result<()> {
    let field = format!("{SECTION}.{name}");
    let shown = format!(
        "[{}]",
        list.iter()
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if list.is_empty() {
        return Err(Error::invalid(field, "[]", "a non-empty list"));
    }
    for (i, v) in list.iter().enumerate() {
        if list[..i].contains(v) {
            return Err(Error::invalid(
                field,
                shown,
                format!("a list without repeats (`{v}` appears twice)"),
            ));
        }
    }
    Ok(())
}

/// The kinds of space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceKind {
    /// A chain of layers.
    Chain,
    /// A NAS-Bench-201-style cell.
    Cell,
    /// A MobileNet-style macro network.
    Macro,
}

impl SpaceKind {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            SpaceKind::Chain => "chain",
            SpaceKind::Cell => "cell",
            SpaceKind::Macro => "macro",
        }
    }
}

impl fmt::Display for SpaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A search space as written in a config: unchecked.
///
/// In TOML every kind's keys sit directly in `[space]`, with `kind` naming the kind
/// (absent: `chain`, so every config written before cells existed reads as before). A
/// chain serializes exactly as it always did (no `kind` key); the other kinds write their
/// `kind` and every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchSpaceParams {
    /// `kind = "chain"`.
    Chain(ChainParams),
    /// `kind = "cell"`.
    Cell(CellParams),
    /// `kind = "macro"`.
    Macro(MacroParams),
}

impl Default for SearchSpaceParams {
    /// The default chain space.
    fn default() -> Self {
        SearchSpaceParams::Chain(ChainParams::default())
    }
}

impl From<ChainParams> for SearchSpaceParams {
    fn from(p: ChainParams) -> Self {
        SearchSpaceParams::Chain(p)
    }
}

impl From<CellParams> for SearchSpaceParams {
    fn from(p: CellParams) -> Self {
        SearchSpaceParams::Cell(p)
    }
}

impl From<MacroParams> for SearchSpaceParams {
    fn from(p: MacroParams) -> Self {
        SearchSpaceParams::Macro(p)
    }
}

/// Every key any kind may have, as read from `[space]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceTable {
    kind: Option<SpaceKind>,
    min_layers: Option<u32>,
    max_layers: Option<u32>,
    conv2d: Option<Conv2dChoices>,
    maxpool2d: Option<bool>,
    dense: Option<DenseChoices>,
    dropout: Option<DropoutChoices>,
    nodes: Option<u32>,
    ops: Option<Vec<CellOp>>,
    blocks: Option<Vec<Block>>,
    skeleton: Option<SkeletonTable>,
}

/// Every key any kind's `[space.skeleton]` may have.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkeletonTable {
    stem_channels: Option<u32>,
    cells_per_stage: Option<u32>,
    stages: Option<u32>,
    layers_per_stage: Option<Vec<u32>>,
    head_channels: Option<u32>,
}

/// Refuses the keys of other kinds, naming them.
fn only(kind: SpaceKind, present: &[(&str, bool)]) -> std::result::Result<(), String> {
    match present.iter().find(|(_, p)| *p) {
        Some((key, _)) => Err(format!(
            "`{key}` is not a key of a {kind} space (`kind = \"{kind}\"`); remove it or set the kind that has it"
        )),
        None => Ok(()),
    }
}

impl TryFrom<SpaceTable> for SearchSpaceParams {
    type Error = String;
    fn try_from(t: SpaceTable) -> std::result::Result<Self, String> {
        let kind = t.kind.unwrap_or(SpaceKind::Chain);
        let chain_keys = [
            ("min_layers", t.min_layers.is_some()),
            ("max_layers", t.max_layers.is_some()),
            ("conv2d", t.conv2d.is_some()),
            ("maxpool2d", t.maxpool2d.is_some()),
            ("dense", t.dense.is_some()),
            ("dropout", t.dropout.is_some()),
        ];
        let sk = t.skeleton.unwrap_or(SkeletonTable {
            stem_channels: None,
            cells_per_stage: None,
            stages: None,
            layers_per_stage: None,
            head_channels: None,
        });
        match kind {
            SpaceKind::Chain => {
                only(
                    kind,
                    &[
                        ("nodes", t.nodes.is_some()),
                        ("ops", t.ops.is_some()),
                        ("blocks", t.blocks.is_some()),
                        (
                            "skeleton",
                            sk.stem_channels.is_some()
                                || sk.cells_per_stage.is_some()
                                || sk.stages.is_some()
                                || sk.layers_per_stage.is_some()
                                || sk.head_channels.is_some(),
                        ),
                    ],
                )?;
                let max_layers = t.max_layers.ok_or("missing field `max_layers`")?;
                Ok(SearchSpaceParams::Chain(ChainParams {
                    min_layers: t.min_layers.unwrap_or(1),
                    max_layers,
                    conv2d: t.conv2d,
                    maxpool2d: t.maxpool2d.unwrap_or(false),
                    dense: t.dense,
                    dropout: t.dropout,
                }))
            }
            SpaceKind::Cell => {
                only(kind, &chain_keys)?;
                only(
                    kind,
                    &[
                        ("blocks", t.blocks.is_some()),
                        ("skeleton.layers_per_stage", sk.layers_per_stage.is_some()),
                        ("skeleton.head_channels", sk.head_channels.is_some()),
                    ],
                )?;
                let d = CellParams::default();
                Ok(SearchSpaceParams::Cell(CellParams {
                    nodes: t.nodes.unwrap_or(d.nodes),
                    ops: t.ops.unwrap_or(d.ops),
                    skeleton: CellSkeleton {
                        stem_channels: sk.stem_channels.unwrap_or(d.skeleton.stem_channels),
                        cells_per_stage: sk.cells_per_stage.unwrap_or(d.skeleton.cells_per_stage),
                        stages: sk.stages.unwrap_or(d.skeleton.stages),
                    },
                }))
            }
            SpaceKind::Macro => {
                only(kind, &chain_keys)?;
                only(
                    kind,
                    &[
                        ("nodes", t.nodes.is_some()),
                        ("ops", t.ops.is_some()),
                        ("skeleton.cells_per_stage", sk.cells_per_stage.is_some()),
                        ("skeleton.stages", sk.stages.is_some()),
                    ],
                )?;
                let d = MacroParams::default();
                Ok(SearchSpaceParams::Macro(MacroParams {
                    blocks: t.blocks.unwrap_or(d.blocks),
                    skeleton: MacroSkeleton {
                        stem_channels: sk.stem_channels.unwrap_or(d.skeleton.stem_channels),
                        layers_per_stage: sk
                            .layers_per_stage
                            .unwrap_or(d.skeleton.layers_per_stage),
                        head_channels: sk.head_channels.unwrap_or(d.skeleton.head_channels),
                    },
                }))
            }
        }
    }
}

impl<'de> Deserialize<'de> for SearchSpaceParams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        SpaceTable::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

/// A kind's params with its `kind` key first.
#[derive(Serialize)]
struct Tagged<'a, T> {
    kind: SpaceKind,
    #[serde(flatten)]
    params: &'a T,
}

impl Serialize for SearchSpaceParams {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            SearchSpaceParams::Chain(p) => p.serialize(s),
            SearchSpaceParams::Cell(p) => Tagged {
                kind: SpaceKind::Cell,
                params: p,
            }
            .serialize(s),
            SearchSpaceParams::Macro(p) => Tagged {
                kind: SpaceKind::Macro,
                params: p,
            }
            .serialize(s),
        }
    }
}

impl SearchSpaceParams {
    /// The kind.
    pub fn kind(&self) -> SpaceKind {
        match self {
            SearchSpaceParams::Chain(_) => SpaceKind::Chain,
            SearchSpaceParams::Cell(_) => SpaceKind::Cell,
            SearchSpaceParams::Macro(_) => SpaceKind::Macro,
        }
    }

    /// The chain params, for a chain space.
    pub fn as_chain(&self) -> Option<&ChainParams> {
        match self {
            SearchSpaceParams::Chain(p) => Some(p),
            _ => None,
        }
    }

    /// Checks every field that does not depend on the input shape.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field (`space.<key>`) and what is allowed.
    pub fn validate(&self) -> Result<()> {
        match self {
            SearchSpaceParams::Chain(p) => p.validate(),
            SearchSpaceParams::Cell(p) => p.validate(),
            SearchSpaceParams::Macro(p) => p.validate(),
        }
    }

    /// Checks the params and binds them to an input shape.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field, or [`Error::EmptySpace`] when nothing of
    /// the space fits the input.
    pub fn check(&self, input: InputShape) -> Result<SearchSpace> {
        if input.is_empty() {
            return Err(Error::invalid("input shape", input, "three positive sides"));
        }
        let inner = match self {
            SearchSpaceParams::Chain(p) => Inner::Chain(Box::new(p.check(input)?)),
            SearchSpaceParams::Cell(p) => Inner::Cell(p.check(input)?),
            SearchSpaceParams::Macro(p) => Inner::Macro(p.check(input)?),
        };
        let encoding = match &inner {
            Inner::Chain(c) => {
                let enc = ChainEncoding::new(c);
                let per_slot = enc.genes_per_slot();
                Encoding::new(
                    enc.genes()
                        .iter()
                        .enumerate()
                        .map(|(i, g)| Gene {
                            name: format!("layer {} {}", i / per_slot + 1, g.role.name()),
                            cardinality: g.cardinality,
                        })
                        .collect(),
                )
            }
            Inner::Cell(c) => c.encoding().clone(),
            Inner::Macro(m) => m.encoding().clone(),
        };
        if let Inner::Cell(_) | Inner::Macro(_) = inner {
            let fixed = match &inner {
                Inner::Cell(c) => fixed::count(c),
                Inner::Macro(m) => fixed::count(m),
                Inner::Chain(_) => unreachable!(),
            };
            if fixed.is_none() {
                return Err(Error::invalid(
                    SECTION,
                    "the product of the genes' sizes",
                    "a space of fewer than 2^128 architectures",
                ));
            }
        }
        Ok(SearchSpace {
            params: self.clone(),
            input,
            encoding,
            inner,
        })
    }
}

/// One decision of a gene-by-gene walk: the gene decided, the values allowed there, the
/// value taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Index of the gene in the encoding.
    pub gene: usize,
    /// The values allowed given the decisions before (sorted).
    pub allowed: Vec<usize>,
    /// The value taken.
    pub chosen: usize,
}

/// Takes one decision with `choose`, recording it unless it was forced (one allowed value).
pub(crate) fn decide(
    gene: usize,
    allowed: Vec<usize>,
    choose: &mut impl FnMut(usize, &[usize]) -> Result<usize>,
    decisions: &mut Vec<Decision>,
) -> Result<usize> {
    if allowed.is_empty() {
        return Err(Error::Strategy(format!(
            "gene {gene}: no value keeps the network valid"
        )));
    }
    let chosen = choose(gene, &allowed)?;
    if !allowed.contains(&chosen) {
        return Err(Error::Strategy(format!(
            "gene {gene}: value {chosen} is not among the allowed {allowed:?}"
        )));
    }
    if allowed.len() > 1 {
        decisions.push(Decision {
            gene,
            allowed,
            chosen,
        });
    }
    Ok(chosen)
}

/// The actions a sequential controller may take after a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    /// True when the architecture may end here.
    pub stop: bool,
    /// The next actions allowed, in increasing order.
    pub next: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Inner {
    Chain(Box<ChainSpace>),
    Cell(CellSpace),
    Macro(MacroSpace),
}

/// A checked search space bound to an input shape: the interface every strategy uses.
/// Every architecture it yields is in the space.
///
/// It serializes as its params and input shape (its tables are rebuilt when read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpaceRepr", into = "SpaceRepr")]
pub struct SearchSpace {
    params: SearchSpaceParams,
    input: InputShape,
    encoding: Encoding,
    inner: Inner,
}

/// What a [`SearchSpace`] is saved as.
#[derive(Serialize, Deserialize)]
struct SpaceRepr {
    params: SearchSpaceParams,
    input: InputShape,
}

impl From<SearchSpace> for SpaceRepr {
    fn from(space: SearchSpace) -> Self {
        SpaceRepr {
            params: space.params,
            input: space.input,
        }
    }
}

impl TryFrom<SpaceRepr> for SearchSpace {
    type Error = Error;
    fn try_from(repr: SpaceRepr) -> Result<Self> {
        repr.params.check(repr.input)
    }
}

/// Genetic operators on a space's genomes, for genetic algorithms
/// ([`SearchSpace::genetics`]). Crossover works on any two genomes of the same length
/// and is the algorithm's own; these are the operators that need the space.
#[derive(Debug)]
pub struct Genetics<'a>(GeneticsInner<'a>);

#[derive(Debug)]
enum GeneticsInner<'a> {
    Chain(Box<ChainGenetics<'a>>),
    Cell(&'a CellSpace),
    Macro(&'a MacroSpace),
}

impl Genetics<'_> {
    fn fixed(&self) -> Option<&dyn FixedKind> {
        match &self.0 {
            GeneticsInner::Chain(_) => None,
            GeneticsInner::Cell(c) => Some(*c),
            GeneticsInner::Macro(m) => Some(*m),
        }
    }

    /// The genome of an architecture of the space. For chains the genes a layer does not
    /// use are drawn at random (hidden genes that a later kind change expresses); for
    /// fixed-length spaces it is the encoding and draws nothing.
    ///
    /// # Panics
    /// When `arch` is not in the space (a strategy bug).
    pub fn genome_of<R: Rng>(&self, arch: &Architecture, rng: &mut R) -> Vec<usize> {
        match (&self.0, self.fixed()) {
            (GeneticsInner::Chain(g), _) => g.genome_of(
                arch.as_chain()
                    .expect("a chain architecture of a chain space"),
                rng,
            ),
            (_, Some(f)) => f.to_genes(arch).expect("an architecture of the space"),
            (_, None) => unreachable!(),
        }
    }

    /// Per-gene mutation with probability `rate` per decision. Chains: each layer's kind,
    /// each of its options, its removal, and an insertion at each of the depth + 1 places
    /// (see [`chain`](mod@chain)); fixed-length spaces: each gene to a different value.
    pub fn mutate<R: Rng>(&self, genome: &[usize], rate: f64, rng: &mut R) -> Vec<usize> {
        match (&self.0, self.fixed()) {
            (GeneticsInner::Chain(g), _) => g.mutate(genome, rate, rng),
            (_, Some(f)) => fixed::mutate_genome(f, genome, rate, rng),
            (_, None) => unreachable!(),
        }
    }

    /// Makes a genome an architecture of the space: chains drop layers that cannot follow
    /// the ones before and complete a network shorter than `min_layers` with uniformly
    /// drawn layers; every genome of a fixed-length space is already one. None only when
    /// no repair exists (never for a checked space): draw a new architecture then.
    pub fn repair<R: Rng>(
        &self,
        genome: &[usize],
        rng: &mut R,
    ) -> Option<(Vec<usize>, Architecture)> {
        match (&self.0, self.fixed()) {
            (GeneticsInner::Chain(g), _) => g
                .repair(genome, rng)
                .map(|(genome, chain)| (genome, Architecture::Chain(chain))),
            (_, Some(f)) => {
                fixed::check_genome(f.encoding(), genome).ok()?;
                Some((genome.to_vec(), f.build(genome)))
            }
            (_, None) => unreachable!(),
        }
    }
}

impl SearchSpace {
    fn fixed(&self) -> Option<&dyn FixedKind> {
        match &self.inner {
            Inner::Chain(_) => None,
            Inner::Cell(c) => Some(c),
            Inner::Macro(m) => Some(m),
        }
    }

    /// The params this space was checked from.
    pub fn params(&self) -> &SearchSpaceParams {
        &self.params
    }

    /// The kind of space.
    pub fn kind(&self) -> SpaceKind {
        self.params.kind()
    }

    /// The input shape networks are built for.
    pub fn input(&self) -> InputShape {
        self.input
    }

    /// How this kind's architectures are written and how its genes map onto them, in one
    /// paragraph for people and for external processes (nas-external sends it at `init`).
    pub fn text_rules(&self) -> &'static str {
        match self.kind() {
            SpaceKind::Chain => {
                "chain: hidden layers joined by ` > `, each conv<k>x<k>-<filters>-<act>[-valid], maxpool2, dense<units>-<act> or dropout<rate>. Genes: per layer slot a kind gene (0 = end of the network, k = the k-th layer kind of the space) then the option genes of every kind; genes a slot's kind does not use are ignored, and a genome may decode to a network outside the space (send a query to check)."
            }
            SpaceKind::Cell => {
                "cell: NAS-Bench-201's arch string |op~0|+|op~0|op~1|+... (node i's incoming edges from nodes 0..i). Genes: one per edge in that order, the index of its op in the space's `ops`; every genome is a cell of the space."
            }
            SpaceKind::Macro => {
                "macro: blocks separated by spaces within a stage and ` / ` between stages (or the NAS-Bench-Macro digit key). Genes: one per layer, the index of its block in the space's `blocks`; every genome is a network of the space."
            }
        }
    }

    /// The chain space, for code that builds chain networks (the engine, `nas space`).
    pub fn as_chain(&self) -> Option<&ChainSpace> {
        match &self.inner {
            Inner::Chain(c) => Some(c),
            _ => None,
        }
    }

    /// The cell space, for code that builds cell networks.
    pub fn as_cell(&self) -> Option<&CellSpace> {
        match &self.inner {
            Inner::Cell(c) => Some(c),
            _ => None,
        }
    }

    /// The macro space, for code that builds macro networks.
    pub fn as_macro(&self) -> Option<&MacroSpace> {
        match &self.inner {
            Inner::Macro(m) => Some(m),
            _ => None,
        }
    }

    /// Exact number of architectures in the space.
    pub fn count_architectures(&self) -> u128 {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => c.count_architectures(),
            (_, Some(f)) => fixed::count(f).expect("checked when the space was built"),
            (_, None) => unreachable!(),
        }
    }

    /// Draws an architecture uniformly: every architecture of the space has probability
    /// 1 / [`count_architectures`](Self::count_architectures). For chains that is uniform
    /// over the valid layer sequences (depth drawn in proportion to how many networks have
    /// it); for cells, uniform over labelled cells (each edge's operation uniform and
    /// independent; isomorphic cells count separately, as in NAS-Bench-201); for macro
    /// networks, each layer's block uniform and independent.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Architecture {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => Architecture::Chain(c.sample(rng)),
            (_, Some(f)) => fixed::sample(f, rng),
            (_, None) => unreachable!(),
        }
    }

    /// A [`SearchSpace::sample`] for which `known` is false, drawing up to `tries` times
    /// (at least once); after `tries` known draws, the last one. Strategies use it to
    /// avoid proposing what they evaluated or have in flight.
    pub fn sample_avoiding<R: Rng>(
        &self,
        rng: &mut R,
        tries: usize,
        known: impl Fn(&Architecture) -> bool,
    ) -> Architecture {
        let mut arch = self.sample(rng);
        for _ in 1..tries {
            if !known(&arch) {
                break;
            }
            arch = self.sample(rng);
        }
        arch
    }

    /// Every architecture of the space (chains by depth, then in canonical layer order;
    /// fixed-length spaces with genomes in lexicographic order).
    ///
    /// # Errors
    /// When the space holds more than `limit` architectures (the message gives the count).
    pub fn enumerate(&self, limit: u128) -> Result<Vec<Architecture>> {
        let total = self.count_architectures();
        if total > limit {
            return Err(Error::invalid(
                "architecture limit",
                limit,
                format!("at least the size of the space ({total} architectures)"),
            ));
        }
        Ok(match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => c
                .enumerate(limit)?
                .into_iter()
                .map(Architecture::Chain)
                .collect(),
            (_, Some(f)) => fixed::enumerate(f),
            (_, None) => unreachable!(),
        })
    }

    /// Ok when `arch` is in the space.
    ///
    /// # Errors
    /// [`Error::NotInSpace`] saying why (another kind, a layer, op or block the space does
    /// not have, a depth, node count or stage structure it does not allow, a network that
    /// does not fit the input).
    pub fn contains(&self, arch: &Architecture) -> Result<()> {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => match arch {
                Architecture::Chain(a) => c.contains(a),
                other => Err(Error::NotInSpace {
                    arch: other.to_string(),
                    reason: format!(
                        "a {} architecture, the space holds chains",
                        other.kind_name()
                    ),
                }),
            },
            (_, Some(f)) => f.to_genes(arch).map(drop),
            (_, None) => unreachable!(),
        }
    }

    /// True when `arch` is in the space.
    pub fn is_valid(&self, arch: &Architecture) -> bool {
        self.contains(arch).is_ok()
    }

    /// Reads an architecture of the space from its canonical text, or (macro spaces) a
    /// NAS-Bench-Macro key of one digit per layer.
    ///
    /// # Errors
    /// [`Error::ParseArchitecture`] or [`Error::NotInSpace`], naming the text.
    pub fn parse(&self, text: &str) -> Result<Architecture> {
        let arch = match &self.inner {
            Inner::Macro(m)
                if !text.trim().is_empty() && text.trim().chars().all(|c| c.is_ascii_digit()) =>
            {
                m.from_key(text.trim())?
            }
            _ => text.parse::<Architecture>()?,
        };
        self.contains(&arch)?;
        Ok(arch)
    }

    /// The benchmark key of an architecture (macro spaces of at most 10 blocks: the
    /// NAS-Bench-Macro digits); None for other spaces.
    pub fn key(&self, arch: &Architecture) -> Option<String> {
        match (&self.inner, arch) {
            (Inner::Macro(m), Architecture::Macro(net)) => m.key(net),
            _ => None,
        }
    }

    /// The fixed-length categorical encoding: genes with names and cardinalities.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    /// The genome of an architecture of the space (for chains, unused genes are 0).
    ///
    /// # Errors
    /// When `arch` is not in the space.
    pub fn encode(&self, arch: &Architecture) -> Result<Vec<usize>> {
        self.contains(arch)?;
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => {
                ChainEncoding::new(c).encode(arch.as_chain().expect("checked: a chain"))
            }
            (_, Some(f)) => f.to_genes(arch),
            (_, None) => unreachable!(),
        }
    }

    /// The architecture of a genome. For chains it may be outside the space (a conv after
    /// a dense layer, too few layers): check it with [`SearchSpace::contains`].
    ///
    /// # Errors
    /// [`Error::Genome`] for a genome of the wrong length or a gene out of range.
    pub fn decode(&self, genome: &[usize]) -> Result<Architecture> {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => ChainEncoding::new(c)
                .decode(genome)
                .map(Architecture::Chain),
            (_, Some(f)) => {
                fixed::check_genome(&self.encoding, genome)?;
                Ok(f.build(genome))
            }
            (_, None) => unreachable!(),
        }
    }

    /// Numeric features of `arch` for surrogate models (a neural predictor's input), each 0
    /// or 1, [`feature_count`](Self::feature_count) of them: for cells BANANAS's path
    /// encoding (one feature per sequence of operations along a path from the input node to
    /// the output node: NAS-Bench-201's cells have 155), for chains and macro networks the
    /// one-hot of the encoding's genes (a chain's option genes only where the slot's layer
    /// has the option). See [`features`](mod@features) for the exact layout.
    ///
    /// # Errors
    /// When `arch` is not in the space.
    pub fn features(&self, arch: &Architecture) -> Result<Vec<f64>> {
        let genes = self.encode(arch)?;
        Ok(match &self.inner {
            Inner::Chain(c) => features::chain(c, &genes),
            Inner::Cell(c) => features::cell(c, &genes),
            Inner::Macro(_) => features::one_hot(&self.encoding, &genes),
        })
    }

    /// Length of [`features`](Self::features).
    pub fn feature_count(&self) -> usize {
        match &self.inner {
            Inner::Cell(c) => features::cell_len(c),
            _ => features::one_hot_len(&self.encoding),
        }
    }

    /// Every architecture of the space one decision away from `arch`, without repeats and
    /// in a fixed order: for fixed-length spaces each gene changed to each other value; for
    /// chains one edit (an option of a layer, a layer's kind, an insertion, a removal).
    ///
    /// # Errors
    /// When `arch` is not in the space.
    pub fn neighbours(&self, arch: &Architecture) -> Result<Vec<Architecture>> {
        self.contains(arch)?;
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => Ok(chain_ops::neighbours(
                arch.as_chain().expect("checked: a chain"),
                c,
            )
            .into_iter()
            .map(Architecture::Chain)
            .collect()),
            (_, Some(f)) => fixed::neighbours(f, arch),
            (_, None) => unreachable!(),
        }
    }

    /// A random neighbour: for fixed-length spaces one decision changed to a different
    /// value (cells: NAS-Bench-201's `mutate_arch`, a node drawn uniformly, then one of its
    /// incoming edges, then another operation; macro networks: a layer, then another
    /// block); for chains one random edit, redrawn until the result is valid and
    /// different. In a space of one architecture, `arch`.
    ///
    /// # Panics
    /// When `arch` is not in the space (a strategy bug).
    pub fn mutate<R: Rng>(&self, arch: &Architecture, rng: &mut R) -> Architecture {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => Architecture::Chain(chain_ops::mutate(
                arch.as_chain()
                    .expect("a chain architecture of a chain space"),
                c,
                rng,
            )),
            (_, Some(f)) => fixed::mutate(f, arch, rng).expect("an architecture of the space"),
            (_, None) => unreachable!(),
        }
    }

    /// The genetic operators of this space's genomes.
    pub fn genetics(&self) -> Genetics<'_> {
        Genetics(match &self.inner {
            Inner::Chain(c) => GeneticsInner::Chain(Box::new(ChainGenetics::new(c))),
            Inner::Cell(c) => GeneticsInner::Cell(c),
            Inner::Macro(m) => GeneticsInner::Macro(m),
        })
    }

    /// Builds one architecture gene by gene (the view of a factorized categorical policy,
    /// one distribution per gene): `choose(gene, allowed)` picks each value among those
    /// that keep the architecture in the space. Fixed-length spaces decide every gene with
    /// all its values allowed; chains decide slot by slot the layer kind (or the end, from
    /// `min_layers` on) and then that kind's options, masked to layers that keep the
    /// network completable. Decisions with a single allowed value are forced and not
    /// returned.
    ///
    /// # Errors
    /// What `choose` returns, or [`Error::Strategy`] when it picks a value not allowed.
    pub fn walk(
        &self,
        choose: impl FnMut(usize, &[usize]) -> Result<usize>,
    ) -> Result<(Vec<Decision>, Architecture)> {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => ChainGenetics::new(c)
                .walk(choose)
                .map(|(d, chain)| (d, Architecture::Chain(chain))),
            (_, Some(f)) => fixed::walk(f, choose),
            (_, None) => unreachable!(),
        }
    }

    /// The decisions of [`SearchSpace::walk`] that build `arch`.
    ///
    /// # Errors
    /// When `arch` is not in the space.
    pub fn decisions_of(&self, arch: &Architecture) -> Result<Vec<Decision>> {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => match arch {
                Architecture::Chain(a) => ChainGenetics::new(c).decisions_of(a),
                _ => self.contains(arch).map(|()| Vec::new()),
            },
            (_, Some(f)) => {
                let genes = f.to_genes(arch)?;
                let (decisions, _) = fixed::walk(f, |gene, _| Ok(genes[gene]))?;
                Ok(decisions)
            }
            (_, None) => unreachable!(),
        }
    }

    /// Number of distinct actions of the sequential view (chains: the space's layers;
    /// fixed-length spaces: the largest gene cardinality).
    pub fn action_count(&self) -> usize {
        match &self.inner {
            Inner::Chain(c) => c.variants().len(),
            _ => self.encoding.cardinalities().into_iter().max().unwrap_or(0),
        }
    }

    /// The sequential view (MetaQNN's state-action walk): what may follow a prefix of
    /// actions. Chains: any layer that keeps the network completable, or stopping once it
    /// has `min_layers` layers; fixed-length spaces: the next gene's values, then only
    /// stopping.
    pub fn actions_after(&self, prefix: &[usize]) -> Actions {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => Actions {
                stop: prefix.len() >= c.min_layers(),
                next: c.completable_next(prefix),
            },
            (_, Some(f)) => fixed::actions_after(f, prefix),
            (_, None) => unreachable!(),
        }
    }

    /// A grouping of actions for exploration "by kind": chains group layers by kind;
    /// fixed-length spaces have one group.
    pub fn action_group(&self, action: usize) -> usize {
        match &self.inner {
            Inner::Chain(c) => c.variants()[action].kind() as usize,
            _ => 0,
        }
    }

    /// The actions that build `arch`.
    ///
    /// # Errors
    /// When `arch` is not in the space.
    pub fn actions_of(&self, arch: &Architecture) -> Result<Vec<usize>> {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => match arch {
                Architecture::Chain(a) => chain_ops::layer_indices(c, a),
                _ => self.contains(arch).map(|()| Vec::new()),
            },
            (_, Some(f)) => f.to_genes(arch),
            (_, None) => unreachable!(),
        }
    }

    /// The architecture a complete sequence of actions builds.
    pub fn from_actions(&self, actions: &[usize]) -> Architecture {
        match (&self.inner, self.fixed()) {
            (Inner::Chain(c), _) => Architecture::Chain(chain_ops::architecture(c, actions)),
            (_, Some(f)) => f.build(actions),
            (_, None) => unreachable!(),
        }
    }

    /// Parameters and forward multiply-accumulates per example of `arch` with a classifier
    /// of `classes` outputs, computed analytically (chains: convs and dense layers;
    /// cells and macro networks: every convolution of the skeleton and the classifier).
    ///
    /// # Errors
    /// When `arch` is not in the space or does not fit the input.
    pub fn cost(&self, arch: &Architecture, classes: u32) -> std::result::Result<Cost, String> {
        self.contains(arch).map_err(|e| e.to_string())?;
        match (&self.inner, arch) {
            (Inner::Chain(_), Architecture::Chain(a)) => a.cost(self.input, classes),
            (Inner::Cell(c), Architecture::Cell(cell)) => Ok(c.cost(cell, classes)),
            (Inner::Macro(m), Architecture::Macro(net)) => Ok(m.cost(net, classes)),
            _ => Err(format!("`{arch}` is not of the space's kind")),
        }
    }
}
