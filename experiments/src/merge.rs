//! `nas merge DIR`: the shard journals under `DIR/shards/` combined into one journal, as
//! if one machine had run the whole experiment, and every output written from it.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::{self, LoadedConfig};
use crate::derive;
use crate::error::BadInput;
use crate::exec::RunSummary;
use crate::journal::{self, Contents, Event, Header, JournalKind};
use crate::manifest::{self, Manifest, NumbersDiffer, contract_name};
use crate::outdir;
use crate::records;
use crate::report;
use crate::runner;

/// Reads every shard under `out/shards/`: (index, config, manifest, journal contents),
/// each shard's lock held (a shard another nas process is still writing is refused).
type Shard = (u32, LoadedConfig, Manifest, Contents);

fn read_shards(out: &Path) -> Result<(Vec<Shard>, Vec<fs::File>), BadInput> {
    let dir = out.join("shards");
    let entries =
        fs::read_dir(&dir).map_err(|e| BadInput::at(&dir, format!("no shards to merge: {e}")))?;
    let mut shards = Vec::new();
    let mut locks = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| BadInput::at(&dir, format!("cannot list the shards: {e}")))?
            .path();
        let Some(index) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        locks.push(outdir::lock(&path)?);
        let config = config::load(&path.join(outdir::RESOLVED_CONFIG))?;
        let manifest =
            outdir::read_manifest(&path).map_err(|e| BadInput::at(&path, e.to_string()))?;
        let contents = journal::read(&path.join(journal::FILE_NAME))?;
        shards.push((index, config, manifest, contents));
    }
    if shards.is_empty() {
        return Err(BadInput::at(&dir, "holds no shard directories (0, 1, ...)"));
    }
    shards.sort_by_key(|s| s.0);
    Ok((shards, locks))
}

/// `nas merge DIR`: combines the shard journals under `DIR/shards/` into `DIR`'s journal
/// and regenerates every output. Takes the locks of `DIR` and of every shard. Refuses
/// shards of another config or nas version, and a `DIR` that holds another experiment or
/// trials the shards do not have (nothing is replaced then); names missing runs and fails
/// unless `allow_partial`, which writes the tables marked partial.
pub fn merge(out: &Path, allow_partial: bool) -> Result<RunSummary> {
    if !out.join("shards").is_dir() {
        return Err(BadInput::at(
            out,
            "holds no shards/ directory: nothing to merge (run `nas run CONFIG --out DIR --shard I/N` first)",
        )
        .into());
    }
    let _lock = outdir::lock(out)?;
    let (shards, _shard_locks) = read_shards(out)?;
    let (_, first_config, first_manifest, first) = &shards[0];
    let config = first_config.config.clone();
    let kind = first.header.kind;
    outdir::refuse_other_journal(out, &config, kind)?;
    let hash = config.journal_hash(kind);
    let version = env!("CARGO_PKG_VERSION");
    let count = first.header.shard.map_or(0, |s| s.1);
    let units = derive::plan_units(&config, kind)?;
    let unit_of: BTreeMap<(String, u32), &runner::Unit> = units
        .iter()
        .map(|u| ((u.strategy.clone(), u.repetition), u))
        .collect();
    for (index, loaded, manifest, contents) in &shards {
        let path = out.join("shards").join(index.to_string());
        let header = &contents.header;
        let first = shards[0].0;
        let why = match manifest::numbers_differ(manifest.source(), first_manifest.source()) {
            None => None,
            Some(NumbersDiffer::Contract(this, that)) => Some(format!(
                "was trained under the engine's numeric contract {}, shard {first} under {}",
                contract_name(this),
                contract_name(that)
            )),
            Some(NumbersDiffer::Table(this, that)) => Some(format!(
                "was answered by a table with table.csv SHA-256 {this}, shard {first} by {that}"
            )),
        };
        if let Some(why) = why {
            return Err(BadInput::at(
                &path,
                format!("{why}: their numbers cannot be merged into one result"),
            )
            .into());
        }
        if header.nas_version != version {
            return Err(BadInput::at(
                &path,
                format!("was written by nas {}, this is nas {version}: merge with the version that ran it", header.nas_version),
            )
            .into());
        }
        if header.kind != kind
            || header.config_hash != hash
            || loaded.config.journal_hash(kind) != hash
        {
            return Err(BadInput::at(
                &path,
                format!(
                    "belongs to another experiment (config hash {} instead of {})",
                    &header.config_hash[..16.min(header.config_hash.len())],
                    &hash[..16]
                ),
            )
            .into());
        }
        match header.shard {
            Some((i, n)) if i == *index && n == count => {}
            other => {
                return Err(BadInput::at(
                    &path,
                    format!(
                        "holds {}, expected shard {index}/{count}",
                        other.map_or("an unsharded journal".into(), |(i, n)| format!(
                            "shard {i}/{n}"
                        ))
                    ),
                )
                .into());
            }
        }
        for event in &contents.events {
            let (strategy, repetition) = records::event_run(event);
            match unit_of.get(&(strategy.clone(), repetition)) {
                Some(u) if runner::shard_of(u.index, count) == *index => {}
                Some(u) => {
                    return Err(BadInput::at(
                        &path,
                        format!(
                            "holds run {} of shard {}",
                            u.label(),
                            runner::shard_of(u.index, count)
                        ),
                    )
                    .into());
                }
                None => {
                    return Err(BadInput::at(
                        &path,
                        format!(
                            "holds run {strategy}/{repetition}, which the config does not have"
                        ),
                    )
                    .into());
                }
            }
        }
    }
    // Every event, grouped by run in canonical order (each run's events keep their order).
    let mut by_unit: Vec<Vec<&Event>> = vec![Vec::new(); units.len()];
    for (_, _, _, contents) in &shards {
        for event in &contents.events {
            let u = unit_of[&records::event_run(event)];
            by_unit[u.index].push(event);
        }
    }
    let merged: Vec<Event> = by_unit.into_iter().flatten().cloned().collect();
    let runs = records::collect(&units, &merged);
    let missing: Vec<String> = runs
        .iter()
        .filter(|r| !r.ended)
        .map(|r| {
            format!(
                "{} (shard {})",
                r.unit.label(),
                runner::shard_of(r.unit.index, count)
            )
        })
        .collect();
    if !missing.is_empty() && !allow_partial {
        anyhow::bail!(
            "{} of {} runs are missing or unfinished: {}; finish their shards (re-submit them: they resume) or pass --allow-partial",
            missing.len(),
            runs.len(),
            missing.join(", ")
        );
    }
    keeps_what_is_there(out, &merged)?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let header = Header {
        kind,
        schema: journal::SCHEMA,
        nas_version: version.to_string(),
        config_hash: hash,
        shard: None,
    };
    let mut text = serde_json::to_string(&header).expect("header serializes");
    text.push('\n');
    for event in &merged {
        text.push_str(&journal::line(event));
    }
    crate::outputs::write_atomic(&out.join(journal::FILE_NAME), text.as_bytes())?;
    outdir::write_config(out, &config, first_manifest.table.as_ref())?;
    let started = shards
        .iter()
        .map(|s| s.2.started.clone())
        .min()
        .unwrap_or_else(|| first_manifest.started.clone());
    let manifest = Manifest {
        started,
        ..first_manifest.clone()
    };
    let table = derive::write_outputs(out, &config, &manifest)?;
    Ok(RunSummary {
        out: out.to_path_buf(),
        table,
        report: (kind == JournalKind::Run).then(|| out.join(report::REPORT)),
    })
}

/// Refuses to replace `out`'s journal (of this experiment: checked before) when it holds
/// an event (a trial, a final evaluation, a run's end) that `merged` lacks: what a merge
/// writes must contain everything that was there.
fn keeps_what_is_there(out: &Path, merged: &[Event]) -> Result<(), BadInput> {
    let path = out.join(journal::FILE_NAME);
    if !path.exists() {
        return Ok(());
    }
    let existing = journal::read(&path)?;
    let merged: std::collections::HashSet<String> = merged.iter().map(journal::line).collect();
    let lost: Vec<&Event> = existing
        .events
        .iter()
        .filter(|e| !merged.contains(&journal::line(e)))
        .collect();
    if let Some(first) = lost.first() {
        let (strategy, repetition) = records::event_run(first);
        return Err(BadInput::at(
            &path,
            format!(
                "holds {} event(s) the shards do not have (the first of run {strategy}/{repetition}): it was not made by merging these shards; nothing was changed (move it away to merge here)",
                lost.len()
            ),
        ));
    }
    Ok(())
}
