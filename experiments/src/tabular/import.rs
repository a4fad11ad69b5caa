//! `nas import-table`: a table of (architecture -> recorded values) that a user brings,
//! in CSV or JSON, for any space kind, checked value by value and written as a nas table
//! (format version 2, see [`super::wide`]). The shipped NAS-Bench-201 and NAS-Bench-Macro
//! tables are built with it.
//!
//! The import spec (TOML) says what the data are:
//!
//! ```toml
//! [table]
//! name = "nas-bench-201-cifar10"
//! description = "..."             # what the table holds
//! source = "..."                  # papers, repositories, licences, derivations
//! dataset = "cifar10-valid"
//! input = "3x32x32"
//! classes = 10
//! accuracy = "percent"            # or "fraction": how accuracies are written
//! data = "cifar10.csv"            # relative to the spec (or --data); .csv or .json
//! sources = ["raw.csv"]           # files recorded in table.json with their SHA-256
//! subset = false                  # true: the data may cover part of the space
//! signal = { fidelity = 12, metric = "val_acc", noise = "mean" }
//! report = { fidelity = 200, metric = "test_acc", noise = "mean" }
//!
//! [space]
//! kind = "cell"
//! ```
//!
//! The data: a CSV with a header row, or a JSON object of objects. Column `arch` (CSV) or
//! the object's keys (JSON) hold the architectures, in the space's canonical text (or a
//! NAS-Bench-Macro key); optional `params` and `macs` are counts (computed by nas from the
//! space when absent); every other column is `<metric>@<fidelity>` or
//! `<metric>@<fidelity>#<seed>` (see [`super::wide`]), empty or `null` when not recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use nas_core::{Architecture, InputShape, SearchSpace, SearchSpaceParams};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::table::{TABLE_CSV, TABLE_FORMAT, TABLE_JSON};
use super::wide::{self, AccuracyUnit, Column, Pick, Record, WideManifest};
use crate::config::{hex, locate, toml_error};
use crate::error::BadInput;
use crate::outputs::write_atomic;

/// `[table]` of an import spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Short name.
    pub name: String,
    /// What the table holds.
    pub description: String,
    /// Provenance.
    pub source: String,
    /// The data the networks were trained on.
    pub dataset: String,
    /// Input shape, e.g. `3x32x32`.
    pub input: String,
    /// Number of classes.
    pub classes: u32,
    /// Unit of the fidelities (default `epochs`).
    #[serde(default = "epochs")]
    pub fidelity_unit: String,
    /// How accuracies are written.
    pub accuracy: AccuracyUnit,
    /// The data file, relative to the spec.
    pub data: PathBuf,
    /// Source files to record with their SHA-256, relative to the spec.
    #[serde(default)]
    pub sources: Vec<PathBuf>,
    /// The data may cover part of the space.
    #[serde(default)]
    pub subset: bool,
    /// The default search signal.
    pub signal: Pick,
    /// The default reported value.
    pub report: Pick,
}

fn epochs() -> String {
    "epochs".into()
}

/// An import spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// What the table is.
    pub table: TableSpec,
    /// The space it covers.
    pub space: SearchSpaceParams,
}

/// What `nas import-table` did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The manifest written.
    pub manifest: WideManifest,
    /// Where.
    pub dir: PathBuf,
}

/// SHA-256 of a file, read in pieces (a source file may be larger than the memory).
fn sha256_file(path: &Path) -> Result<String, BadInput> {
    use std::io::Read;
    let err = |e: std::io::Error| BadInput::at(path, format!("cannot read the file: {e}"));
    let mut file = std::fs::File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Reads and checks an import spec and its data (`data` overrides the spec's `data`), and
/// writes the table into `out`. `table.json` records the source and data files by name
/// with their SHA-256.
///
/// # Errors
/// [`BadInput`] naming the file, the row and column (or the spec field) and what is
/// allowed; nothing is written then.
pub fn import(spec_path: &Path, data: Option<&Path>, out: &Path) -> Result<Imported, BadInput> {
    let text = std::fs::read_to_string(spec_path)
        .map_err(|e| BadInput::at(spec_path, format!("cannot read the import spec: {e}")))?;
    let spec: ImportSpec = toml::from_str(&text).map_err(|e| toml_error(spec_path, &text, &e))?;
    let field_error = |field: &str, message: String| BadInput {
        path: Some(spec_path.to_path_buf()),
        position: locate(&text, field),
        field: Some(field.to_string()),
        message,
    };
    let t = &spec.table;
    let input: InputShape = t
        .input
        .parse()
        .map_err(|e: String| field_error("table.input", e))?;
    if t.classes < 2 {
        return Err(field_error(
            "table.classes",
            format!("invalid value {} (allowed: at least 2)", t.classes),
        ));
    }
    if t.name.trim().is_empty() || t.name.contains(['\n', '\r']) {
        return Err(field_error(
            "table.name",
            "a non-empty name on one line".into(),
        ));
    }
    let space = spec.space.check(input).map_err(|e| {
        let (field, message) = crate::config::core_error("", e);
        field_error(if field.is_empty() { "space" } else { &field }, message)
    })?;
    let base = spec_path.parent().unwrap_or(Path::new("."));
    let data_path = data.map_or_else(|| base.join(&t.data), Path::to_path_buf);
    let raw = read_data(&data_path, &space, t.accuracy)?;
    // One record per architecture.
    let mut by_arch: BTreeMap<String, (Architecture, Record, usize)> = BTreeMap::new();
    for (row, arch, record) in raw {
        let key = arch.to_string();
        if let Some((_, _, first)) = by_arch.get(&key) {
            return Err(BadInput::at(
                &data_path,
                format!(
                    "row {row}, column `arch`: `{key}` already appears in row {first} (one row per architecture)"
                ),
            ));
        }
        by_arch.insert(key, (arch, record, row));
    }
    let total = space.count_architectures();
    if !t.subset && by_arch.len() as u128 != total {
        let example = if total <= 1 << 20 {
            space.enumerate(1 << 20).ok().and_then(|all| {
                all.into_iter()
                    .find(|a| !by_arch.contains_key(&a.to_string()))
            })
        } else {
            None
        };
        return Err(BadInput::at(
            &data_path,
            format!(
                "{} architectures, the space has {total}{} (set `table.subset = true` in {} to import part of the space)",
                by_arch.len(),
                example.map_or_else(String::new, |a| format!("; e.g. `{a}` is missing")),
                spec_path.display()
            ),
        ));
    }
    let mut fidelities = BTreeSet::new();
    for (_, record, _) in by_arch.values() {
        fidelities.extend(record.values.keys().map(|c| c.fidelity));
    }
    for (name, pick) in [("signal", &t.signal), ("report", &t.report)] {
        for (arch, record, row) in by_arch.values() {
            if record.pick(pick, 0).is_none() {
                let column = Column {
                    fidelity: pick.fidelity,
                    metric: pick.metric,
                    seed: match pick.noise {
                        wide::Noise::Mean => None,
                        wide::Noise::Seed => Some(0),
                    },
                };
                return Err(BadInput::at(
                    &data_path,
                    format!(
                        "row {row}, column `{column}`: `{arch}` has no value for the table's {name} ({})",
                        pick.describe(&t.fidelity_unit)
                    ),
                ));
            }
        }
    }
    let mut records: Vec<(Architecture, Record)> = by_arch
        .into_values()
        .map(|(arch, mut record, _)| {
            if let Ok(cost) = space.cost(&arch, t.classes) {
                record.params.get_or_insert(cost.params);
                record.macs.get_or_insert(cost.macs);
            }
            (arch, record)
        })
        .collect();
    records.sort_by_key(|(a, _)| a.to_string());
    let (columns, csv) = wide::write_csv(&records);
    // File names only, so that the manifest does not depend on where the files were.
    let name = |p: &Path| {
        p.file_name()
            .map_or_else(|| p.to_string_lossy(), |n| n.to_string_lossy())
            .into_owned()
    };
    let mut imported_from = Vec::new();
    for src in &t.sources {
        let path = base.join(src);
        imported_from.push((name(&path), sha256_file(&path)?));
    }
    imported_from.push((name(&data_path), sha256_file(&data_path)?));
    let manifest = WideManifest {
        format: TABLE_FORMAT.0.into(),
        version: wide::WIDE_VERSION,
        nas_version: env!("CARGO_PKG_VERSION").into(),
        name: t.name.clone(),
        description: t.description.clone(),
        source: t.source.clone(),
        dataset: t.dataset.clone(),
        input,
        classes: t.classes,
        space: spec.space.clone(),
        subset: t.subset,
        fidelity_unit: t.fidelity_unit.clone(),
        accuracy: t.accuracy,
        fidelities: fidelities.into_iter().collect(),
        signal: t.signal,
        report: t.report,
        imported_from,
        architectures: records.len(),
        columns,
        table_sha256: hex(&Sha256::digest(&csv)),
    };
    let _lock = crate::outdir::lock(out)?;
    if out.join(crate::journal::FILE_NAME).exists() {
        return Err(BadInput::at(
            out,
            "holds an experiment (journal.jsonl), not a table: choose another --out",
        ));
    }
    refuse_other_table(out, &manifest.name)?;
    let io = |e: anyhow::Error| BadInput::at(out, format!("{e:#}"));
    write_atomic(&out.join(TABLE_CSV), &csv).map_err(io)?;
    let mut json = serde_json::to_string_pretty(&manifest).expect("the manifest serializes");
    json.push('\n');
    write_atomic(&out.join(TABLE_JSON), json.as_bytes()).map_err(io)?;
    Ok(Imported {
        manifest,
        dir: out.to_path_buf(),
    })
}

/// Refuses an output directory that holds another table: one made by `nas tabulate`, or
/// an imported one of another name (importing the same table again replaces it).
fn refuse_other_table(out: &Path, name: &str) -> Result<(), BadInput> {
    let path = out.join(TABLE_JSON);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    #[derive(Deserialize)]
    struct Head {
        version: Option<u32>,
        name: Option<String>,
    }
    let head: Option<Head> = serde_json::from_str(&text).ok();
    match head {
        Some(Head {
            version: Some(v),
            name: Some(old),
        }) if v == wide::WIDE_VERSION && old == name => Ok(()),
        Some(Head {
            version: Some(v),
            name: Some(old),
        }) if v == wide::WIDE_VERSION => Err(BadInput::at(
            &path,
            format!(
                "holds the imported table {old:?}, not {name:?}: nothing was changed; choose another --out (or remove it to replace it)"
            ),
        )),
        _ => Err(BadInput::at(
            &path,
            "holds a table this import did not make (one made by nas tabulate, or no nas table): nothing was changed; choose another --out",
        )),
    }
}

/// A value as written, checked (it is kept as written: the table declares the unit).
fn value(column: &Column, text: &str, unit: AccuracyUnit) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{text}` is not a finite number"));
    }
    wide::check_value(column.metric, v, unit)?;
    Ok(v)
}

/// What a data column holds.
enum Kind {
    Arch,
    Params,
    Macs,
    Value(Column),
}

fn kind_of(header: &str) -> Result<Kind, String> {
    match header.trim() {
        "arch" => Ok(Kind::Arch),
        "params" => Ok(Kind::Params),
        "macs" => Ok(Kind::Macs),
        other => other.parse().map(Kind::Value),
    }
}

/// Reads the data file: (row number as the user counts it, architecture, record).
fn read_data(
    path: &Path,
    space: &SearchSpace,
    unit: AccuracyUnit,
) -> Result<Vec<(usize, Architecture, Record)>, BadInput> {
    let bytes = super::read_bounded(path, "data")?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    let mut out = Vec::new();
    let cell_error = |row: usize, column: &str, msg: String| {
        BadInput::at(path, format!("row {row}, column `{column}`: {msg}"))
    };
    let mut fill = |row: usize, arch_text: &str, cells: Vec<(String, Option<String>)>| {
        let arch = space
            .parse(arch_text)
            .map_err(|e| cell_error(row, "arch", e.to_string()))?;
        let mut record = Record::default();
        for (header, cell) in cells {
            let Some(cell) = cell.filter(|c| !c.trim().is_empty()) else {
                continue;
            };
            match kind_of(&header).map_err(|e| cell_error(row, &header, e))? {
                Kind::Arch => {}
                Kind::Params | Kind::Macs => {
                    let n: u64 = cell.trim().parse().map_err(|_| {
                        cell_error(
                            row,
                            &header,
                            format!("`{cell}` is not a count (a whole number >= 0)"),
                        )
                    })?;
                    if header.trim() == "params" {
                        record.params = Some(n);
                    } else {
                        record.macs = Some(n);
                    }
                }
                Kind::Value(column) => {
                    let v = value(&column, &cell, unit).map_err(|e| cell_error(row, &header, e))?;
                    record.values.insert(column, v);
                }
            }
        }
        out.push((row, arch, record));
        Ok::<(), BadInput>(())
    };
    if is_json {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
            .map_err(|e| {
                BadInput::at(
                    path,
                    format!(
                        "line {}, column {}: not a JSON object of architectures: {e}",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
        for (i, (arch, values)) in map.into_iter().enumerate() {
            let row = i + 1;
            let serde_json::Value::Object(values) = values else {
                return Err(cell_error(
                    row,
                    "arch",
                    format!("`{arch}` maps to something other than an object of values"),
                ));
            };
            let cells = values
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::Null => None,
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        other => Some(other.to_string()),
                    };
                    (k, text)
                })
                .collect();
            fill(row, &arch, cells)?;
        }
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(bytes.as_slice());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| BadInput::at(path, format!("cannot read the header row: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        let arch_col = headers
            .iter()
            .position(|h| h == "arch")
            .ok_or_else(|| BadInput::at(path, "the header row has no `arch` column"))?;
        let mut seen = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            kind_of(h).map_err(|e| BadInput::at(path, format!("row 1, column {}: {e}", i + 1)))?;
            if let Some(first) = seen.insert(h.clone(), i) {
                return Err(BadInput::at(
                    path,
                    format!(
                        "row 1: column `{h}` appears twice (columns {} and {})",
                        first + 1,
                        i + 1
                    ),
                ));
            }
        }
        for (i, rec) in reader.records().enumerate() {
            let row = i + 2;
            let rec = rec.map_err(|e| BadInput::at(path, format!("row {row}: {e}")))?;
            let arch = rec.get(arch_col).unwrap_or_default().to_string();
            let cells = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, c)| (h.clone(), Some(c.to_string())))
                .collect();
            fill(row, &arch, cells)?;
        }
    }
    if out.is_empty() {
        return Err(BadInput::at(path, "holds no architecture"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_converted_and_checked_with_the_column() {
        let c: Column = "val_acc@12".parse().unwrap();
        assert_eq!(value(&c, "93.5", AccuracyUnit::Percent).unwrap(), 93.5);
        assert!(
            value(&c, "101", AccuracyUnit::Percent)
                .unwrap_err()
                .contains("[0, 100]")
        );
        assert!(
            value(&c, "1.5", AccuracyUnit::Fraction)
                .unwrap_err()
                .contains("[0, 1]")
        );
        assert!(
            value(&c, "NaN", AccuracyUnit::Fraction)
                .unwrap_err()
                .contains("finite")
        );
        let t: Column = "train_seconds@12".parse().unwrap();
        assert!(
            value(&t, "-3", AccuracyUnit::Percent)
                .unwrap_err()
                .contains("negative")
        );
        assert_eq!(value(&t, "86.7", AccuracyUnit::Percent).unwrap(), 86.7);
    }
}
