//! Memory: how much a trial needs before anything is allocated, how much this machine can
//! give, and the gate that lets concurrent trials share it.
//!
//! A trial whose network cannot fit must not take the process down (an allocation failure
//! aborts, and the trial in flight is never recorded: a resume proposes it again and
//! aborts again). So [`TrainingEvaluator`](crate::TrainingEvaluator) estimates every
//! trial's memory from the architecture before building it ([`estimate`]) and refuses
//! one above the limit: the trial is recorded `failed` with the estimate and the limit,
//! and the run goes on.
//!
//! # The estimate
//!
//! It is computed from what the architecture and the training parameters say, not from
//! the engine's internals (which change), and errs on the generous side. With `P`
//! parameters, `B` examples per batch cut into micro-batches of `m`, `W = ceil(B / m)`
//! micro-batch workspaces, `A` the values per example of the input plus every layer's
//! output (counted again for GELU pre-activations and dropout masks), `w` the widest of
//! them, and `T` threads, the native engine needs, in 4-byte floats:
//!
//! - `3P`: the parameters and the optimiser's two moment buffers;
//! - per workspace, `P` (its partial gradient) + `m (A + 2w)` (activations and the two
//!   gradient buffers) + the convolutions' scratch: for each convolution a padded copy of
//!   the micro-batch's input, its weight padded to a multiple of 16 output channels, and a
//!   tile of unfolded input (at least 65,536 floats or 256 positions);
//!
//! plus 4 bytes per training and test image index, 8 MiB per thread (stack and
//! allocator), 16 MiB for the process around it, and 10% on top. The candle reference
//! backend works on whole batches through an autograd graph and copies parameters and
//! gradients between tensors and vectors at every step: `10P` plus, per batch example,
//! four copies of every activation and each convolution's unfolded input.
//!
//! Measured against the peak resident memory of `nas eval` on MNIST (native backend):
//! a 65,536-unit dense layer (52M parameters) is estimated at 1.62 GiB and peaks at
//! 1.44 GiB; two 5x5 convolutions of 64 filters, 264 MiB against 197 MiB; two dense
//! layers of 4,096 units with dropout and GELU, 631 MiB against 554 MiB.
//!
//! # The limit
//!
//! `training.max_memory` (a [`ByteSize`] such as `"2GiB"`) sets it: then which trials fail
//! for memory is part of the config, the same on every machine. A machine that cannot
//! give a trial that much is refused before the experiment starts, rather than failing
//! trials that another machine would train.
//!
//! Without it, the limit is [`MachineMemory::probe`]'s budget: three quarters of the
//! memory this process can still use when the evaluator is built (the least of
//! `MemAvailable`, the cgroup's room and the address-space limit `ulimit -v`), or 2 GiB
//! when none of these can be read. That limit depends on the machine: a trial refused
//! under it says so in its reason, and the limit is recorded in the run's manifest.
//!
//! Concurrent trials (several workers) share the machine's budget through a
//! [`MemoryGate`]: a trial waits until the memory it needs is free, so workers never
//! change which trials train.

use std::fmt;
use std::str::FromStr;
use std::sync::{Condvar, Mutex};

use nas_core::{Architecture, Geometry, InputShape, Layer, Padding};
use serde::{Deserialize, Serialize};

use crate::params::{BackendKind, TrainValidParams};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Smallest accepted `max_memory`.
pub const MIN_LIMIT: u64 = MIB;
/// Share of the room this process has that trials may use (numerator / denominator).
const SHARE: (u64, u64) = (3, 4);
/// The budget when the machine's memory cannot be read.
const FALLBACK: u64 = 2 * GIB;
/// Stack and allocator overhead per thread.
const THREAD_BYTES: u64 = 8 * MIB;
/// The process around the trial.
const BASE_BYTES: u64 = 16 * MIB;

/// An amount of memory as written in a config: `"512MiB"`, `"2GiB"`, `"1.5G"`,
/// `"4000000000"` (bytes). Binary units (`KiB`, `MiB`, `GiB`, `TiB`, and `K`, `M`, `G`,
/// `T` as Slurm reads them) or decimal ones (`kB`, `MB`, `GB`, `TB`); written back in
/// the largest binary unit that divides it exactly, so it reads back to the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not an amount of memory (e.g. \"512MiB\", \"2GiB\", \"1.5G\" or a number of bytes)"
            )
        };
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let scale = match unit.trim() {
            "" | "B" => 1,
            "K" | "KiB" | "k" => KIB,
            "M" | "MiB" => MIB,
            "G" | "GiB" => GIB,
            "T" | "TiB" => TIB,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            _ => return Err(bad()),
        };
        if number.is_empty() || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let bytes = match number.split_once('.') {
            None => number
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(scale))
                .ok_or_else(bad)?,
            Some(_) => {
                let v: f64 = number.parse().map_err(|_| bad())?;
                let b = v * scale as f64;
                if !(b.is_finite() && b < u64::MAX as f64) {
                    return Err(bad());
                }
                b.round() as u64
            }
        };
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, name) in [(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
            if b >= unit && b.is_multiple_of(unit) {
                return write!(f, "{}{name}", b / unit);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bytes(u64),
            Text(String),
        }
        match Written::deserialize(d)? {
            Written::Bytes(b) => Ok(ByteSize(b)),
            Written::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Bytes for people: `1.46 GiB`, `512 MiB`, `900 KiB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    for (unit, name) in [(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit {
            let v = b / unit as f64;
            return if v >= 100.0 {
                format!("{v:.0} {name}")
            } else {
                format!("{v:.2} {name}")
            };
        }
    }
    format!("{bytes} B")
}

/// What one trial is estimated to need (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Everything, margin included.
    pub bytes: u64,
    /// Trainable parameters.
    pub params: u64,
    /// Micro-batch workspaces (native) or 1 (candle).
    pub workspaces: u64,
    /// Threads.
    pub threads: u64,
}

impl MemoryEstimate {
    /// What the estimate counts, for messages.
    pub fn details(&self) -> String {
        format!(
            "{} parameters with their optimiser state, {} micro-batch workspace(s), {} thread(s)",
            self.params, self.workspaces, self.threads
        )
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", human(self.bytes), self.details())
    }
}

/// Floats per example of every layer of `arch` on `input`, with the head of `classes`.
struct Shapes {
    /// (layer, input geometry, output geometry), the head last (as a dense layer).
    layers: Vec<(Option<Layer>, Geometry, Geometry)>,
}

fn shapes(arch: &Architecture, input: InputShape, classes: u32) -> Result<Shapes, String> {
    let chain = arch.as_chain().ok_or_else(|| {
        format!(
            "the memory of a {} architecture cannot be estimated (nas's engine trains chains)",
            arch.kind_name()
        )
    })?;
    let geometries = chain.geometries(input)?;
    let mut prev = input.geometry();
    let mut layers = Vec::with_capacity(geometries.len() + 1);
    for (layer, next) in chain.layers().iter().zip(geometries) {
        layers.push((Some(*layer), prev, next));
        prev = next;
    }
    layers.push((None, prev, Geometry::Flat { features: classes }));
    Ok(Shapes { layers })
}

fn len(g: Geometry) -> u64 {
    g.len()
}

/// Saturating sums and products: an absurd architecture gives `u64::MAX`, never a wrap.
fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}
fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

/// Estimates the memory a trial of `arch` needs to train on `input` images with
/// `classes` classes under `params`, over `train_images` training and `test_images` test
/// images (see the module docs for the formula).
///
/// A cell or macro architecture (in `params.cell_skeleton` or `params.macro_skeleton`)
/// counts every tensor of its graph and its gradient for every example of a batch (batch
/// norm needs the whole batch's activations at once), plus each micro-batch workspace's
/// buffers.
///
/// # Errors
/// When `arch` does not fit `input`.
pub fn estimate(
    arch: &Architecture,
    input: InputShape,
    classes: u32,
    params: &TrainValidParams,
    train_images: usize,
    test_images: usize,
) -> Result<MemoryEstimate, String> {
    if let Some(plan) = crate::engine::cellnet::CellPlan::of(arch, params, input, classes) {
        let plan = plan?;
        let p = plan.params as u64;
        let batch = u64::from(params.batch_size);
        let micro = u64::from(params.micro_batch).min(batch).max(1);
        let workspaces = batch.div_ceil(micro);
        let floats = add(
            add(
                mul(3, p),
                mul(workspaces, plan.floats_per_workspace(micro as usize)),
            ),
            mul(mul(workspaces, micro), plan.floats_per_example()),
        );
        return Ok(total(
            floats,
            p,
            workspaces,
            params,
            train_images,
            test_images,
        ));
    }
    let s = shapes(arch, input, classes)?;
    let p = arch
        .as_chain()
        .expect("a chain: shapes checked it")
        .cost(input, classes)?
        .params;
    let batch = u64::from(params.batch_size);
    let input_len = input.len() as u64;
    // Activations per example: the input, each output, again for GELU pre-activations
    // and dropout masks; and the widest, for the two gradient buffers.
    let mut per_example = input_len;
    let mut widest = input_len;
    let mut unfolded = 0u64; // candle: unfolded inputs per example
    for (layer, _, out) in &s.layers {
        let o = len(*out);
        widest = widest.max(o);
        let copies = match layer {
            Some(Layer::Conv2d { activation, .. } | Layer::Dense { activation, .. })
                if *activation == nas_core::Activation::Gelu =>
            {
                2
            }
            Some(Layer::Dropout { .. }) => 2,
            _ => 1,
        };
        per_example = add(per_example, mul(o, copies));
    }
    let (floats, workspaces) = match params.backend {
        BackendKind::Native => {
            let micro = u64::from(params.micro_batch).min(batch).max(1);
            let workspaces = batch.div_ceil(micro);
            let mut scratch = 0u64;
            for (layer, inp, out) in &s.layers {
                if let (
                    Some(Layer::Conv2d {
                        filters,
                        kernel,
                        padding,
                        ..
                    }),
                    Geometry::Spatial {
                        channels,
                        height,
                        width,
                    },
                    _,
                ) = (layer, inp, out)
                {
                    let k = u64::from(*kernel);
                    let cin = u64::from(*channels);
                    let patch = k * k * cin;
                    let pad = match padding {
                        Padding::Same => k - 1,
                        Padding::Valid => 0,
                    };
                    let padded = mul(mul(u64::from(*height) + pad, u64::from(*width) + pad), cin);
                    let cout_padded = u64::from(*filters).div_ceil(16) * 16;
                    let tile = mul(patch, 256).max(1 << 16);
                    scratch = add(
                        scratch,
                        add(add(mul(patch, cout_padded), mul(micro, padded)), tile),
                    );
                }
            }
            let workspace = add(add(p, mul(micro, add(per_example, 2 * widest))), scratch);
            (add(mul(3, p), mul(workspaces, workspace)), workspaces)
        }
        BackendKind::Candle => {
            for (layer, inp, out) in &s.layers {
                if let (
                    Some(Layer::Conv2d { kernel, .. }),
                    Geometry::Spatial { channels, .. },
                    Geometry::Spatial { height, width, .. },
                ) = (layer, inp, out)
                {
                    let k = u64::from(*kernel);
                    let positions = u64::from(*height) * u64::from(*width);
                    unfolded = add(unfolded, mul(k * k * u64::from(*channels), positions));
                }
            }
            let activations = add(mul(4, per_example), unfolded);
            (add(mul(10, p), mul(batch, activations)), 1)
        }
    };
    Ok(total(
        floats,
        p,
        workspaces,
        params,
        train_images,
        test_images,
    ))
}

/// The estimate of `floats` floats of model state, with the image indices, the threads'
/// stacks and the process's base, plus a 10% margin.
fn total(
    floats: u64,
    p: u64,
    workspaces: u64,
    params: &TrainValidParams,
    train_images: usize,
    test_images: usize,
) -> MemoryEstimate {
    let threads = u64::from(params.threads);
    let indices = 4 * (train_images as u64 + test_images as u64);
    let total = add(
        add(mul(floats, 4), indices),
        add(mul(threads, THREAD_BYTES), BASE_BYTES),
    );
    MemoryEstimate {
        bytes: add(total, total / 10),
        params: p,
        workspaces,
        threads,
    }
}

/// What this machine can give trials: a budget and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineMemory {
    /// Bytes trials may use together.
    pub budget: u64,
    /// How the budget was found, for messages and manifests.
    pub source: String,
}

/// A `key:   value kB` line of a /proc file, in bytes.
fn proc_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(KIB))
}

/// The soft address-space limit of `/proc/self/limits` (None: unlimited or unreadable).
fn address_space_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The room left under the cgroup (v2, then v1) this process belongs to.
fn cgroup_room() -> Option<(u64, String)> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let v2 = read("/proc/self/cgroup").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("0::").map(|p| p.trim().to_string()))
    });
    let mut best: Option<(u64, String)> = None;
    if let Some(path) = v2 {
        // The tightest limit on the way from this process's cgroup to the root.
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for depth in (0..=parts.len()).rev() {
            let dir = format!("/sys/fs/cgroup/{}", parts[..depth].join("/"));
            if let (Some(max), Some(cur)) = (
                read(&format!("{dir}/memory.max")),
                read(&format!("{dir}/memory.current")),
            ) && let (Ok(max), Ok(cur)) = (max.trim().parse::<u64>(), cur.trim().parse::<u64>())
            {
                let room = max.saturating_sub(cur);
                if best.as_ref().is_none_or(|b| room < b.0) {
                    best = Some((room, format!("cgroup {dir}")));
                }
            }
        }
    }
    if best.is_none()
        && let (Some(max), Some(cur)) = (
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            read("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
        )
        && let (Ok(max), Ok(cur)) = (max.trim().parse::<u64>(), cur.trim().parse::<u64>())
        && max < (1 << 60)
    {
        best = Some((max.saturating_sub(cur), "cgroup v1 memory".into()));
    }
    best
}

impl MachineMemory {
    /// Reads the room this process has now: the least of `MemAvailable`
    /// (`/proc/meminfo`), the cgroup's limit minus its usage, and the address-space limit
    /// (`ulimit -v`) minus the process's size; the budget is three quarters of it (2 GiB
    /// when none can be read).
    pub fn probe() -> MachineMemory {
        let mut rooms: Vec<(u64, String)> = Vec::new();
        if let Some(avail) = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| proc_kb(&t, "MemAvailable"))
        {
            rooms.push((avail, format!("MemAvailable {}", human(avail))));
        }
        if let Some(room) = cgroup_room() {
            rooms.push((room.0, format!("{} room {}", room.1, human(room.0))));
        }
        if let Some(limit) = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| address_space_limit(&t))
        {
            let size = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|t| proc_kb(&t, "VmSize"))
                .unwrap_or(0);
            let room = limit.saturating_sub(size);
            rooms.push((
                room,
                format!(
                    "address-space limit {} with {} in use",
                    human(limit),
                    human(size)
                ),
            ));
        }
        match rooms.into_iter().min_by_key(|r| r.0) {
            Some((room, what)) => MachineMemory {
                budget: room / SHARE.1 * SHARE.0,
                source: format!("3/4 of the room this machine had when the run started ({what})"),
            },
            None => MachineMemory {
                budget: FALLBACK,
                source: "the fallback when the machine's memory cannot be read".into(),
            },
        }
    }
}

/// The memory concurrent trials share: a trial [`MemoryGate::acquire`]s its estimate and
/// waits while others hold too much.
#[derive(Debug)]
pub struct MemoryGate {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Memory held by one trial, given back when dropped.
#[derive(Debug)]
pub struct Held<'a> {
    gate: &'a MemoryGate,
    bytes: u64,
}

impl MemoryGate {
    /// A gate over `total` bytes.
    pub fn new(total: u64) -> Self {
        MemoryGate {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Takes `bytes` (capped at the total, so one trial alone always passes), waiting
    /// until other trials have given back enough.
    pub fn acquire(&self, bytes: u64) -> Held<'_> {
        let bytes = bytes.min(self.total);
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used > 0 && *used + bytes > self.total {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += bytes;
        Held { gate: self, bytes }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut used = self.gate.used.lock().unwrap_or_else(|p| p.into_inner());
        *used -= self.bytes;
        self.gate.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::TrainParams;

    #[test]
    fn sizes_parse_and_print_back_exactly() {
        for (text, bytes) in [
            ("512MiB", 512 * MIB),
            ("2GiB", 2 * GIB),
            ("2G", 2 * GIB),
            ("1.5G", 3 * GIB / 2),
            ("4000000000", 4_000_000_000),
            ("3 GB", 3_000_000_000),
            ("1TiB", TIB),
            ("64k", 64 * KIB),
        ] {
            let size: ByteSize = text.parse().unwrap();
            assert_eq!(size.bytes(), bytes, "{text}");
            assert_eq!(size.to_string().parse::<ByteSize>().unwrap(), size);
        }
        assert_eq!(ByteSize(2 * GIB).to_string(), "2GiB");
        assert_eq!(ByteSize(1_000_000).to_string(), "1000000B");
        for bad in [
            "",
            "GiB",
            "1.2.3G",
            "-1G",
            "1 parsec",
            "NaNG",
            "99999999999999999999T",
        ] {
            let err = bad.parse::<ByteSize>().unwrap_err();
            assert!(err.contains("not an amount of memory"), "{bad}: {err}");
        }
        assert_eq!(human(1536 * MIB), "1.50 GiB");
        assert_eq!(human(700), "700 B");
    }

    fn params(batch: u32, micro: u32, threads: u32) -> TrainValidParams {
        TrainParams {
            batch_size: batch,
            micro_batch: micro,
            threads,
            ..TrainParams::default()
        }
        .check()
        .unwrap()
    }

    #[test]
    fn the_estimate_grows_with_parameters_workspaces_and_threads() {
        let input = InputShape::new(1, 28, 28);
        let small: Architecture = "dense16-relu".parse().unwrap();
        let e = estimate(&small, input, 10, &params(128, 32, 1), 1000, 100).unwrap();
        assert_eq!(e.params, 784 * 16 + 16 + 16 * 10 + 10);
        assert_eq!(e.workspaces, 4);
        assert!(e.bytes > BASE_BYTES && e.bytes < 64 * MIB, "{e}");
        // The network: three dense layers of 65,536 units need hundreds of GiB.
        let huge: Architecture = "dense65536-relu > dense65536-relu > dense65536-relu"
            .parse()
            .unwrap();
        let e = estimate(&huge, input, 10, &params(128, 32, 1), 1000, 100).unwrap();
        assert!(e.bytes > 200 * GIB, "{e}");
        // One such layer: 52M parameters, 7 copies of them (parameters, two moments,
        // four partial gradients) = 1.4 GiB and more.
        let one: Architecture = "dense65536-relu".parse().unwrap();
        let e = estimate(&one, input, 10, &params(128, 32, 1), 1000, 100).unwrap();
        let p = 784 * 65536 + 65536 + 65536 * 10 + 10;
        assert!(e.bytes >= 7 * 4 * p && e.bytes < 2 * GIB, "{e}");
        // More workspaces (smaller micro-batches) and more threads need more.
        let fine = estimate(&one, input, 10, &params(128, 8, 1), 1000, 100).unwrap();
        assert!(fine.bytes > e.bytes);
        let threads = estimate(&one, input, 10, &params(128, 32, 8), 1000, 100).unwrap();
        // Seven more threads, with the 10% margin (and its rounding).
        assert!((threads.bytes - e.bytes).abs_diff(7 * THREAD_BYTES * 11 / 10) <= 1);
        // A convolution counts its scratch; the candle backend its whole batch.
        let conv: Architecture = "conv5x5-64-gelu > maxpool2 > dense32-relu".parse().unwrap();
        let c = estimate(&conv, input, 10, &params(128, 32, 1), 1000, 100).unwrap();
        assert!(c.bytes > e.bytes / 100);
        let candle = TrainValidParams {
            backend: BackendKind::Candle,
            ..params(128, 32, 1)
        };
        let cc = estimate(&conv, input, 10, &candle, 1000, 100).unwrap();
        assert!(cc.bytes > c.bytes, "{cc} vs {c}");
        // Absurd sizes saturate instead of wrapping.
        let wide = estimate(
            &huge,
            InputShape::new(3, 2048, 2048),
            10,
            &params(65536, 1, 256),
            usize::MAX / 8,
            0,
        )
        .unwrap();
        assert!(wide.bytes > TIB);
    }

    #[test]
    fn proc_files_are_read() {
        let meminfo = "MemTotal:       24000000 kB\nMemAvailable:   16000000 kB\n";
        assert_eq!(proc_kb(meminfo, "MemAvailable"), Some(16_000_000 * KIB));
        assert_eq!(proc_kb(meminfo, "Missing"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax address space         4096000000           unlimited            bytes\n";
        assert_eq!(address_space_limit(limits), Some(4_096_000_000));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_limit(unlimited), None);
        let m = MachineMemory::probe();
        assert!(m.budget > 0 && !m.source.is_empty());
    }

    #[test]
    fn the_gate_lets_trials_in_while_their_estimates_fit() {
        let gate = std::sync::Arc::new(MemoryGate::new(100));
        let a = gate.acquire(60);
        // Alone, more than the total still passes (capped).
        drop(a);
        let big = gate.acquire(500);
        let (tx, rx) = std::sync::mpsc::channel();
        let g = gate.clone();
        let waiter = std::thread::spawn(move || {
            let _held = g.acquire(10);
            tx.send(()).unwrap();
        });
        drop(big);
        rx.recv().unwrap();
        waiter.join().unwrap();
        let x = gate.acquire(40);
        let y = gate.acquire(60);
        drop((x, y));
        assert_eq!(*gate.used.lock().unwrap(), 0);
    }
}
