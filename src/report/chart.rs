//! PNG charts for the report, drawn with `plotters` into a pixel buffer and written with the
//! `image` crate. Text uses the Hack typeface embedded by `epaint_default_fonts`, so charts
//! look the same on every machine, with or without system fonts.

use anyhow::{Result, anyhow};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// Width and height of a line chart, in pixels.
const LINE_SIZE: (u32, u32) = (720, 400);
/// Side of an embedding map, in pixels (the legend takes a column on the right).
const MAP_SIZE: (u32, u32) = (760, 600);

/// One named line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text (the run's name).
    pub name: String,
    /// `(x, y)` points in order of `x`.
    pub points: Vec<(f64, f64)>,
    /// Index of its colour, so that a run keeps its colour in every chart.
    pub colour: usize,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped inside the crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}

/// The colour of the `i`-th series or class.
fn colour(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// Draws into a white RGB buffer of `size` and saves it as PNG at `path`.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    let mut buffer = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        draw(area.clone())?;
        area.present()
            .map_err(|e| anyhow!("cannot draw {}: {e}", path.display()))?;
    }
    image::save_buffer(path, &buffer, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

/// Draws the legend of the labelled series in a translucent box at `position`.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()
}

/// The smallest and largest value of `values`, widened when they are equal.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1e-3)
    };
    (lo - pad, hi + pad)
}

/// Series with at most this many points get a marker on each.
const MARKED_POINTS: usize = 60;

/// A line chart of `series` against the training step, one colour per series with a legend.
pub fn line_chart(path: &Path, title: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let xs = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let error = |e: &dyn std::fmt::Display| anyhow!("chart {}: {e}", path.display());
    render(path, LINE_SIZE, |area| {
        area.fill(&WHITE).map_err(|e| error(&e))?;
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(xs.0.max(0.0)..xs.1, ys.0..ys.1)
            .map_err(|e| error(&e))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(y_label)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| error(&e))?;
        for s in series {
            let style = ShapeStyle::from(colour(s.colour)).stroke_width(2);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(|e| error(&e))?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            // A sparse series (a probe every few hundred steps, one point for a one-epoch
            // run, which a line alone leaves invisible) also gets a marker per value.
            if s.points.len() <= MARKED_POINTS {
                let dots = s.points.iter().map(|&p| Circle::new(p, 3, style.filled()));
                chart.draw_series(dots).map_err(|e| error(&e))?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::MiddleRight).map_err(|e| error(&e))
    })
}

/// A scatter plot of 2-D points coloured by class, with the class names as legend.
pub fn class_map(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    classes: &[u32],
    names: &[String],
) -> Result<()> {
    let xs = span(points.iter().map(|p| p.0));
    let ys = span(points.iter().map(|p| p.1));
    let error = |e: &dyn std::fmt::Display| anyhow!("map {}: {e}", path.display());
    render(path, MAP_SIZE, |area| {
        area.fill(&WHITE).map_err(|e| error(&e))?;
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(|e| error(&e))?;
        let count = classes.iter().max().map_or(0, |&c| c as usize + 1);
        for class in 0..count {
            let style = ShapeStyle::from(colour(class)).filled();
            let name = names
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string());
            chart
                .draw_series(
                    points
                        .iter()
                        .zip(classes)
                        .filter(|(_, c)| **c as usize == class)
                        .map(|(&p, _)| Circle::new(p, 3, style)),
                )
                .map_err(|e| error(&e))?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(|e| error(&e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_pngs_with_ink_in_each_series_colour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let series = [
            Series {
                name: "a".into(),
                points: (0..50)
                    .map(|i| (i as f64, (-(i as f64) / 10.0).exp()))
                    .collect(),
                colour: 0,
            },
            Series {
                name: "b".into(),
                points: (0..50).map(|i| (i as f64, 0.5)).collect(),
                colour: 1,
            },
        ];
        line_chart(&path, "loss", "loss", &series).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        assert_eq!(png.dimensions(), LINE_SIZE);
        for i in 0..2 {
            let c = colour(i);
            assert!(
                png.pixels().any(|p| p.0 == [c.0, c.1, c.2]),
                "no pixel of series {i}'s colour"
            );
        }

        // One point alone (a one-epoch run's kNN probe) is drawn, not an empty frame: more
        // ink of its colour than the legend alone (the chart of a series with no points).
        let inked = |points: Vec<(f64, f64)>| {
            let file = dir.path().join("single.png");
            let one = Series {
                name: "knn".into(),
                points,
                colour: 2,
            };
            line_chart(&file, "kNN", "top-1", &[one]).unwrap();
            let c = colour(2);
            let png = image::open(&file).unwrap().to_rgb8();
            png.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count()
        };
        let (legend, point) = (inked(vec![]), inked(vec![(100.0, 0.5)]));
        assert!(
            point > legend + 9,
            "{point} pixels against the legend's {legend}"
        );

        let map = dir.path().join("map.png");
        let points = [(0.0, 0.0), (1.0, 1.0), (0.5, 0.2)];
        class_map(
            &map,
            "t-SNE",
            &points,
            &[0, 1, 1],
            &["x".into(), "y".into()],
        )
        .unwrap();
        assert_eq!(image::open(&map).unwrap().width(), MAP_SIZE.0);
    }

    #[test]
    fn spans_are_padded_and_never_empty() {
        assert_eq!(span([].into_iter()), (0.0, 1.0));
        let (lo, hi) = span([2.0, 2.0].into_iter());
        assert!(lo < 2.0 && hi > 2.0);
        let (lo, hi) = span([0.0, 10.0, f64::NAN].into_iter());
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
    }
}
