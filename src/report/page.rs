//! The report's HTML, written with `maud` (every value is escaped). One page, its style
//! inline, images referenced by relative file names next to it.

use super::run::{Column, Run, slug};
use maud::{DOCTYPE, Markup, html};
use std::collections::BTreeSet;

/// A chart of the report: its PNG file name and title.
pub struct Figure {
    /// File name inside the report directory.
    pub file: String,
    /// Caption.
    pub title: String,
}

/// What the page shows for one run besides the shared charts.
pub struct RunFigures {
    /// The task picture, copied into the report.
    pub picture: Option<Figure>,
    /// The t-SNE map, or why there is none.
    pub map: std::result::Result<Figure, String>,
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1500px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; } td.best { font-weight: bold; background: #eef7ee; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 1rem; }
figure { margin: 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
.note { color: #777; font-style: italic; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
";

fn figure(f: &Figure) -> Markup {
    html! {
        figure {
            img src=(f.file) alt=(f.title);
            figcaption { (f.title) }
        }
    }
}

fn overview(runs: &[Run]) -> Markup {
    html! {
        table {
            tr { th { "run" } th { "method" } th { "encoder" } th { "data" } th { "steps" }
                 th { "last loss" } th { "images/s" } }
            @for run in runs {
                @let last = run.metrics.last();
                @let e = &run.config.encoder;
                tr {
                    td { (run.name) }
                    td { (run.config.method.name) }
                    td { (e.arch.name()) " ×" (e.width) }
                    td { (run.config.data.dataset.to_string()) }
                    td { (last.map_or(0, |m| m.step)) }
                    td { (last.map_or("-".into(), |m| format!("{:.4}", m.loss))) }
                    td { (last.map_or("-".into(), |m| format!("{:.0}", m.images_per_sec))) }
                }
            }
        }
    }
}

fn results(runs: &[Run]) -> Markup {
    let columns: BTreeSet<&Column> = runs.iter().flat_map(|r| r.results.keys()).collect();
    if columns.is_empty() {
        return html! {
            p.note { "No downstream results yet: run pretext eval linear / knn, pretext \
                      finetune or pretext retrieve on these runs, then rebuild the report." }
        };
    }
    let best = |c: &Column| {
        runs.iter()
            .filter_map(|r| r.results.get(c).copied())
            .fold(f64::NEG_INFINITY, f64::max)
    };
    html! {
        table id="results" {
            tr { th { "run" } @for c in &columns { th { (c.title) } } }
            @for run in runs {
                tr {
                    td { (run.name) }
                    @for c in &columns {
                        @match run.results.get(*c) {
                            Some(v) if runs.len() > 1 && *v == best(c) => td.best { (format!("{v:.2}")) },
                            Some(v) => td { (format!("{v:.2}")) },
                            None => td { "–" },
                        }
                    }
                }
            }
        }
        p.note { "Percent. The last result of each kind recorded in each run's eval.jsonl; \
                  the best of each column in bold." }
    }
}

/// The whole page.
pub fn render(runs: &[Run], charts: &[Figure], figures: &[RunFigures]) -> String {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let title = format!("pretext report: {}", names.join(", "));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (STYLE) }
            }
            body {
                h1 { (title) }
                p.note { "Written by pretext " (env!("CARGO_PKG_VERSION"))
                         " from the run directories; rebuild it with pretext report." }
                h2 { "Runs" }
                (overview(runs))
                h2 { "Downstream results" }
                (results(runs))
                h2 { "Training" }
                div.grid { @for c in charts { (figure(c)) } }
                @for (run, f) in runs.iter().zip(figures) {
                    h2 id=(format!("run-{}", slug(&run.name))) { (run.name) }
                    div.grid {
                        @if let Some(p) = &f.picture { (figure(p)) }
                        @match &f.map {
                            Ok(m) => (figure(m)),
                            Err(why) => p.note { "No embedding map: " (why) "." },
                        }
                    }
                    details {
                        summary { "configuration (" (run.dir.display().to_string()) "/config.toml)" }
                        pre { (run.config_text) }
                    }
                }
            }
        }
    };
    page.into_string()
}
