//! `pretext report`: one HTML page (plus its PNGs) that shows what one run, or several runs
//! side by side, did: loss and learning-rate curves, every logged metric over training (the
//! kNN probe, the collapse indicators, the pretext task's accuracy), the pictures of the task,
//! a t-SNE map of the encoder's test features coloured by class, and a table of every
//! downstream result recorded in the runs' `eval.jsonl` (linear, kNN, fine-tuning,
//! retrieval).
//!
//! The page reads only files: it opens offline in any browser, and the report can be rebuilt
//! at any time from the run directories.

pub mod chart;
pub mod map;
mod page;
mod run;

use crate::checkpoint;
use anyhow::{Context, Result, ensure};
use chart::Series;
use page::{Figure, RunFigures};
use run::Run;
use run::slug;
use std::path::{Path, PathBuf};

/// Options of a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Test images in each t-SNE map (0 = no maps).
    pub map_points: usize,
    /// Device the encoders embed the map's images on.
    pub device: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            map_points: 1000,
            device: "flex".into(),
        }
    }
}

/// Writes `out/index.html` and its PNGs for `runs`; returns the page's path.
pub fn write(runs: &[PathBuf], out: &Path, options: &ReportOptions) -> Result<PathBuf> {
    ensure!(!runs.is_empty(), "name at least one run directory");
    let mut loaded = runs
        .iter()
        .map(|dir| Run::open(dir))
        .collect::<Result<Vec<_>>>()?;
    // Same directory names (e.g. runs/a/simclr, runs/b/simclr) get a number.
    let names: Vec<String> = loaded.iter().map(|r| r.name.clone()).collect();
    for (i, run) in loaded.iter_mut().enumerate() {
        if names.iter().filter(|n| **n == run.name).count() > 1 {
            run.name = format!("{}-{}", run.name, i + 1);
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let charts = training_charts(&loaded, out)?;
    let mut figures = Vec::with_capacity(loaded.len());
    for run in &loaded {
        let picture = match run.latest_picture() {
            Some(source) => {
                let file = format!("{}-picture.png", slug(&run.name));
                std::fs::copy(&source, out.join(&file))
                    .with_context(|| format!("cannot copy {}", source.display()))?;
                Some(Figure {
                    file,
                    title: format!("{} ({})", run.name, run.config.method.name),
                })
            }
            None => None,
        };
        let map = embedding_map(run, out, options)?;
        figures.push(RunFigures { picture, map });
    }
    let html = page::render(&loaded, &charts, &figures);
    let index = out.join("index.html");
    pretext_data::atomic::write(&index, html.as_bytes())?;
    Ok(index)
}

/// Loss, learning rate and one chart per other logged metric, every run a line.
fn training_charts(runs: &[Run], out: &Path) -> Result<Vec<Figure>> {
    let mut keys: Vec<(String, String)> = vec![
        ("loss".into(), "training loss".into()),
        ("lr".into(), "learning rate".into()),
    ];
    let mut extra: Vec<String> = runs
        .iter()
        .flat_map(|r| r.metrics.iter().flat_map(|m| m.extra.keys().cloned()))
        .collect();
    extra.sort();
    extra.dedup();
    keys.extend(extra.into_iter().map(|k| {
        let title = match k.as_str() {
            "knn_top1" => "kNN probe top-1 (test subset)".to_string(),
            "emb_std" => {
                "collapse: projector output std (training batch, l2-normalised)".to_string()
            }
            "eff_rank" => "collapse: projector output effective rank (training batch)".to_string(),
            "feat_std" => "collapse: encoder feature std (probe images, l2-normalised)".to_string(),
            "rankme" => "collapse: encoder feature RankMe (probe images)".to_string(),
            other => other.replace('_', " "),
        };
        (k, title)
    }));
    let mut figures = Vec::new();
    for (key, title) in keys {
        let series: Vec<Series> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| Series {
                name: r.name.clone(),
                colour: i,
                points: r
                    .metrics
                    .iter()
                    .filter_map(|m| {
                        let y = match key.as_str() {
                            "loss" => Some(m.loss),
                            "lr" => Some(m.lr),
                            k => m.extra.get(k).copied(),
                        };
                        y.map(|y| (m.step as f64, y))
                    })
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        let file = format!("chart-{}.png", slug(&key));
        chart::line_chart(&out.join(&file), &title, &key, &series)?;
        figures.push(Figure { file, title });
    }
    Ok(figures)
}

/// The t-SNE map of `run`'s encoder on its dataset's test split (the train split when there
/// is none), or why it cannot be drawn.
fn embedding_map(
    run: &Run,
    out: &Path,
    options: &ReportOptions,
) -> Result<std::result::Result<Figure, String>> {
    if options.map_points == 0 {
        return Ok(Err("maps were turned off (--map-points 0)".into()));
    }
    let ckpt = run.dir.join(checkpoint::FILE_NAME);
    if !ckpt.exists() {
        return Ok(Err(format!("no checkpoint in {}", run.dir.display())));
    }
    let spec = &run.config.data.dataset;
    let source = [pretext_data::Split::Test, pretext_data::Split::Train]
        .into_iter()
        .find_map(|split| {
            crate::dataset::open_subset(spec, split, false, options.map_points, 0).ok()
        });
    let Some(source) = source else {
        return Ok(Err(format!("cannot open {spec}")));
    };
    let device = crate::device::parse(&options.device)?;
    let (header, encoder) = crate::checkpoint::load_encoder(&ckpt, &device)?;
    let features =
        crate::eval::features::extract(&encoder, &header.input, source.as_ref(), &device, 256)?;
    if features.len() < map::MIN_POINTS {
        return Ok(Err(format!(
            "{} has fewer than {} labelled images to map",
            source.origin(),
            map::MIN_POINTS
        )));
    }
    tracing::info!("t-SNE of {} features of {}", features.len(), run.name);
    let points = map::tsne(&features.data, features.dim, 0);
    let names: Vec<String> = source.classes().map(<[String]>::to_vec).unwrap_or_default();
    let file = format!("{}-tsne.png", slug(&run.name));
    let title = format!("{}: t-SNE of {} test features", run.name, features.len());
    chart::class_map(&out.join(&file), &title, &points, &features.labels, &names)?;
    Ok(Ok(Figure { file, title }))
}
