//! `pretext report` as a person meets it: the page parses, every image it shows is a PNG on
//! disk, the results table carries the runs' evaluations, and a headless Chromium renders it.

mod common;

use scraper::{Html, Selector};
use std::path::PathBuf;
use std::process::{Command, Output};

use common::pretext;

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Chromium of the machine (scripts/test.sh installs Debian's).
fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        })
        .expect("no chromium on PATH: run scripts/test.sh, which installs it")
}

fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    page.select(&Selector::parse(css).unwrap()).collect()
}

#[test]
fn the_report_renders_every_figure_and_result_and_chromium_draws_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    common::write_idx_dataset(&data, 200, 100);
    let data_arg = format!("fashion-mnist:{}", data.display());
    let run = dir.path().join("simclr");
    ok(pretext(&[
        "pretrain",
        "--method",
        "simclr",
        "--data",
        &data_arg,
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--out",
        run.to_str().unwrap(),
        "--set",
        "encoder.width=0.25",
        "--set",
        "train.log_every=2",
        "--set",
        "probe.every=4",
        "--set",
        "probe.bank=100",
        "--set",
        "probe.queries=50",
        "--quiet",
    ]));
    ok(pretext(&[
        "eval",
        "knn",
        "--checkpoint",
        run.to_str().unwrap(),
        "--data",
        &data_arg,
        "--k",
        "10",
    ]));
    let ft = dir.path().join("finetuned");
    ok(pretext(&[
        "finetune",
        "--from",
        run.to_str().unwrap(),
        "--label-fraction",
        "0.5",
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--out",
        ft.to_str().unwrap(),
        "--quiet",
    ]));

    let out = dir.path().join("report");
    let stdout = ok(pretext(&[
        "report",
        run.to_str().unwrap(),
        ft.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--map-points",
        "60",
    ]));
    let index = out.join("index.html");
    assert!(stdout.contains("index.html"), "{stdout}");
    let page = Html::parse_document(&std::fs::read_to_string(&index).unwrap());
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let title = select(&page, "title")[0].text().collect::<String>();
    assert!(
        title.contains("simclr") && title.contains("finetuned"),
        "{title}"
    );

    // Every image is a PNG next to the page; the charts include the loss, the learning rate,
    // the kNN probe and the collapse indicators, and each run has its t-SNE map.
    let sources: Vec<String> = select(&page, "img")
        .iter()
        .map(|img| img.value().attr("src").unwrap().to_string())
        .collect();
    for src in &sources {
        assert!(!src.contains('/') && src.ends_with(".png"), "{src}");
        let png = image::open(out.join(src)).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(png.width() > 50 && png.height() > 50, "{src}");
    }
    for expected in [
        "chart-loss.png",
        "chart-lr.png",
        "chart-knn_top1.png",
        "chart-emb_std.png",
        "chart-eff_rank.png",
        "simclr-tsne.png",
        "finetuned-tsne.png",
        "simclr-picture.png",
    ] {
        assert!(
            sources.iter().any(|s| s == expected),
            "{expected} in {sources:?}"
        );
    }

    // The results table: a row per run, the kNN and fine-tuning results as numbers.
    let headers: Vec<String> = select(&page, "#results th")
        .iter()
        .map(|th| th.text().collect())
        .collect();
    let column = |title: &str| {
        headers
            .iter()
            .position(|h| h == title)
            .unwrap_or_else(|| panic!("no column {title} in {headers:?}"))
    };
    let rows: Vec<Vec<String>> = select(&page, "#results tr")
        .iter()
        .skip(1)
        .map(|tr| {
            tr.select(&Selector::parse("td").unwrap())
                .map(|td| td.text().collect())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2);
    let value = |row: &[String], title: &str| row[column(title)].parse::<f64>();
    let knn = value(&rows[0], "kNN top-1").unwrap();
    let finetuned = value(&rows[0], "fine-tune top-1 (50% labels)").unwrap();
    assert!((0.0..=100.0).contains(&knn) && (0.0..=100.0).contains(&finetuned));
    assert_eq!(
        value(&rows[1], "fine-tune top-1 (50% labels)").unwrap(),
        finetuned
    );

    // A headless browser draws the page: a screenshot of the window's size, not blank.
    let shot = dir.path().join("shot.png");
    let status = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", index.display()),
        ])
        .output()
        .expect("run chromium");
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let screenshot = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(screenshot.dimensions(), (1280, 2400));
    let colours: std::collections::HashSet<[u8; 3]> = screenshot.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 100, "{} colours", colours.len());

    // A folder that is not a run is named in the error.
    let missing = dir.path().join("nothing-here");
    let out = pretext(&[
        "report",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("r2").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing-here"), "{stderr}");
}
