//! Plots: the anytime curve (best-so-far validation accuracy against evaluations, mean
//! with a 95% band per strategy) and a box plot of final test accuracy; SVG and PNG.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One strategy's anytime curve: `(evaluations, mean, low, high)` per step.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Strategy name.
    pub name: String,
    /// Points, by increasing evaluations.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// One strategy's final test accuracies.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Strategy name.
    pub name: String,
    /// One value per run.
    pub values: Vec<f64>,
}

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is embedded and valid; PNG text needs a registered font.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn color(i: usize) -> RGBColor {
    // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
    const PALETTE: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(240, 228, 66),
        RGBColor(0, 0, 0),
    ];
    PALETTE[i % PALETTE.len()]
}

fn y_range(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.002);
    ((lo - pad).max(0.0), (hi + pad).min(1.0))
}

fn draw_anytime<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    curves: &[Curve],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let x_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let (lo, hi) = curves
        .iter()
        .flat_map(|c| c.points.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.2), hi.max(p.3))
        });
    let (y0, y1) = y_range(lo, hi);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(1.0..x_max.max(2.0), y0..y1)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .x_label_formatter(&|v| format!("{}", (v * 100.0).round() / 100.0))
        .y_desc("best validation accuracy so far")
        .y_label_formatter(&|v| format!("{v:.3}"))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for (i, curve) in curves.iter().enumerate() {
        let c = color(i);
        let band: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.0, p.3))
            .chain(curve.points.iter().rev().map(|p| (p.0, p.2)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled())))
            .map_err(|e| anyhow!("{e:?}"))?;
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e:?}"))?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

fn draw_box<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    samples: &[Sample],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let (lo, hi) = samples
        .iter()
        .flat_map(|s| s.values.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let (y0, y1) = y_range(lo, hi);
    let names: Vec<String> = samples.iter().map(|s| s.name.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(names.into_segmented(), y0 as f32..y1 as f32)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .y_desc("test accuracy of the selected architecture")
        .x_label_formatter(&|v| match v {
            SegmentValue::Exact(s) | SegmentValue::CenterOf(s) => s.to_string(),
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| format!("{v:.3}"))
        .disable_x_mesh()
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for (i, s) in samples.iter().enumerate() {
        if s.values.is_empty() {
            continue;
        }
        let quartiles = Quartiles::new(&s.values);
        chart
            .draw_series(std::iter::once(
                Boxplot::new_vertical(SegmentValue::CenterOf(&s.name), &quartiles)
                    .width(40)
                    .whisker_width(0.6)
                    .style(color(i).stroke_width(2)),
            ))
            .map_err(|e| anyhow!("{e:?}"))?;
        chart
            .draw_series(s.values.iter().map(|&v| {
                Circle::new(
                    (SegmentValue::CenterOf(&s.name), v as f32),
                    3,
                    color(i).mix(0.6).filled(),
                )
            }))
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// Writes `<stem>.svg` and `<stem>.png` of the anytime curves into `dir`.
pub fn anytime(dir: &Path, stem: &str, title: &str, x_label: &str, curves: &[Curve]) -> Result<()> {
    register_font();
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    draw_anytime(
        &SVGBackend::new(&svg, (WIDTH, HEIGHT)).into_drawing_area(),
        title,
        x_label,
        curves,
    )
    .with_context(|| format!("cannot draw {}", svg.display()))?;
    draw_anytime(
        &BitMapBackend::new(&png, (WIDTH, HEIGHT)).into_drawing_area(),
        title,
        x_label,
        curves,
    )
    .with_context(|| format!("cannot draw {}", png.display()))
}

/// Writes `<stem>.svg` and `<stem>.png` of the box plot into `dir`.
pub fn boxplot(dir: &Path, stem: &str, title: &str, samples: &[Sample]) -> Result<()> {
    register_font();
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    draw_box(
        &SVGBackend::new(&svg, (WIDTH, HEIGHT)).into_drawing_area(),
        title,
        samples,
    )
    .with_context(|| format!("cannot draw {}", svg.display()))?;
    draw_box(
        &BitMapBackend::new(&png, (WIDTH, HEIGHT)).into_drawing_area(),
        title,
        samples,
    )
    .with_context(|| format!("cannot draw {}", png.display()))
}

/// The anytime plots (against evaluations; for a tabular run also against simulated
/// training time) and the box plot of final test accuracies, as SVG and PNG.
pub(crate) struct Plots;

impl super::Output for Plots {
    fn write(&self, out: &Path, r: &super::Report<'_>) -> Result<()> {
        use super::analysis::{anytime_curves, present, time_curves};
        let name = &r.config.experiment.name;
        let curves = anytime_curves(r.analysis, r.config.experiment.evaluations);
        let samples: Vec<Sample> = r
            .analysis
            .groups
            .iter()
            .map(|g| Sample {
                name: g.name.clone(),
                values: present(&g.test),
            })
            .collect();
        crate::outputs::replace_files(
            out,
            &["anytime.svg", "anytime.png", "test_box.svg", "test_box.png"],
            |dir| {
                anytime(
                    dir,
                    "anytime",
                    &format!("{name}: anytime performance"),
                    "evaluations",
                    &curves,
                )?;
                boxplot(
                    dir,
                    "test_box",
                    &format!("{name}: test accuracy of the selected architectures"),
                    &samples,
                )
            },
        )?;
        if r.manifest.table.is_some() {
            let curves = time_curves(r.analysis);
            let axis = match r.config.experiment.simulated_workers {
                Some(n) => format!("simulated wall-clock seconds ({n} workers)"),
                None => "recorded training seconds".to_string(),
            };
            crate::outputs::replace_files(out, &["anytime_time.svg", "anytime_time.png"], |dir| {
                anytime(
                    dir,
                    "anytime_time",
                    &format!("{name}: anytime performance (simulated time)"),
                    &axis,
                    &curves,
                )
            })?;
        }
        Ok(())
    }
}
