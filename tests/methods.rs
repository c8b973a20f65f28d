//! Every method trains on small generated data with falling loss, and draws its picture.

mod common;

use pretext::config::RunConfig;
use pretext::train::{self, RunOptions};
use std::path::Path;

fn run(data: &str, method: &str, out: &Path, extra: &[&str]) -> Vec<f64> {
    let mut overrides: Vec<String> = vec![
        format!("data.dataset=\"{data}\""),
        format!("method.name=\"{method}\""),
        "encoder.width=0.25".into(),
        "train.batch_size=16".into(),
        "train.epochs=30".into(),
        "train.max_steps=40".into(),
        "train.log_every=1".into(),
        "train.checkpoint_every=0".into(),
        "optim.name=\"adamw\"".into(),
        "optim.lr=0.003".into(),
        "optim.weight_decay=0.0".into(),
        format!("train.out=\"{}\"", out.display()),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let config = RunConfig::from_toml("", &overrides, "test").unwrap();
    let options = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };
    let summary = train::pretrain(config.clone(), options).unwrap();
    // The checkpoint also wrote a picture of the task.
    let pictures = std::fs::read_dir(out.join("pictures")).unwrap().count();
    assert_eq!(pictures, 1, "{method}: one picture at the final checkpoint");
    summary.losses
}

fn assert_falls(method: &str, losses: &[f64]) {
    let n = losses.len();
    let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = losses[n - 5..].iter().sum::<f64>() / 5.0;
    assert!(
        last < 0.9 * first,
        "{method}: loss did not fall: {first:.4} → {last:.4} ({losses:?})"
    );
}

fn gray_data(dir: &Path) -> String {
    common::write_idx_dataset(dir, 48, 10);
    format!("fashion-mnist:{}", dir.display())
}

fn color_data(dir: &Path) -> String {
    common::write_color_folder(dir, 48, 40);
    format!("folder:{}", dir.display())
}

#[test]
fn relative_patch_position_learns_on_gray_and_colour_images() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_data(&dir.path().join("gray"));
    let losses = run(&gray, "relative-patch", &dir.path().join("a"), &[]);
    assert_falls("relative-patch", &losses);
    let colour = color_data(&dir.path().join("colour"));
    let losses = run(
        &colour,
        "relative-patch",
        &dir.path().join("b"),
        &["data.image_size=32", "method.chroma=\"drop\""],
    );
    assert!(losses.iter().all(|l| l.is_finite()));
}

#[test]
fn jigsaw_learns_with_a_permutation_file() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_data(&dir.path().join("gray"));
    let perms = dir.path().join("perms.txt");
    pretext_data::permutations::PermutationSet::generate(
        10,
        0,
        pretext_data::permutations::Selection::Maximal,
        1,
    )
    .unwrap()
    .save(&perms)
    .unwrap();
    let losses = run(
        &gray,
        "jigsaw",
        &dir.path().join("a"),
        &[&format!("method.permutations=\"{}\"", perms.display())],
    );
    assert_falls("jigsaw", &losses);
    let resolved = RunConfig::load(&dir.path().join("a/config.toml"), &[]).unwrap();
    assert_eq!(resolved.method.options["count"].as_integer(), Some(10));
}

#[test]
fn colorization_learns_with_both_losses() {
    let dir = tempfile::tempdir().unwrap();
    let colour = color_data(&dir.path().join("colour"));
    for (loss, out) in [("classification", "a"), ("l2", "b")] {
        let losses = run(
            &colour,
            "colorization",
            &dir.path().join(out),
            &["data.image_size=32", &format!("method.loss=\"{loss}\"")],
        );
        assert_falls(loss, &losses);
    }
    // The encoder takes lightness: it evaluates on gray images too.
    let resolved = RunConfig::load(&dir.path().join("a/config.toml"), &[]).unwrap();
    assert_eq!(resolved.encoder.in_channels, 1);
    let gray = gray_data(&dir.path().join("gray"));
    let (header, encoder) =
        train::load_encoder(&dir.path().join("a"), &burn::prelude::Device::flex()).unwrap();
    let source =
        pretext::dataset::open(&gray.parse().unwrap(), pretext_data::Split::Test, false).unwrap();
    let features = pretext::eval::features::extract(
        &encoder,
        &header.input,
        source.as_ref(),
        &burn::prelude::Device::flex(),
        8,
    )
    .unwrap();
    assert_eq!(features.len(), 10);
}

#[test]
fn colorization_refuses_gray_data() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_data(&dir.path().join("gray"));
    let config = RunConfig::from_toml(
        "",
        &[
            format!("data.dataset=\"{gray}\""),
            "method.name=\"colorization\"".into(),
            format!("train.out=\"{}\"", dir.path().join("x").display()),
        ],
        "t",
    )
    .unwrap();
    let err = train::pretrain(config, RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour images"), "{err}");
}

#[test]
fn inpainting_learns_with_and_without_the_adversary() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_data(&dir.path().join("gray"));
    let losses = run(&gray, "inpainting", &dir.path().join("a"), &[]);
    assert_falls("inpainting", &losses);
    let losses = run(
        &gray,
        "inpainting",
        &dir.path().join("b"),
        &[
            "method.adversarial=true",
            "method.mask.kind=\"random-region\"",
        ],
    );
    assert!(losses.iter().all(|l| l.is_finite()));
}

#[test]
fn show_draws_every_method_without_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_data(&dir.path().join("gray"));
    let colour = color_data(&dir.path().join("colour"));
    for (method, data) in [
        ("rotation", &gray),
        ("relative-patch", &gray),
        ("jigsaw", &gray),
        ("colorization", &colour),
        ("inpainting", &gray),
    ] {
        let png = dir.path().join(format!("{method}.png"));
        let mut overrides = vec![
            format!("data.dataset=\"{data}\""),
            format!("method.name=\"{method}\""),
            "encoder.width=0.25".to_string(),
        ];
        if method == "jigsaw" {
            overrides.push("method.count=20".into());
        }
        let config = RunConfig::from_toml("", &overrides, "t").unwrap();
        train::show(config, None, 4, &png).unwrap_or_else(|e| panic!("{method}: {e:#}"));
        assert!(image::open(&png).is_ok(), "{method}");
    }
}

#[test]
fn byol_learns_and_its_target_starts_as_the_online_network() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_data(&dir.path().join("gray"));
    let out = dir.path().join("byol");
    let small = [
        "method.projector_hidden=[64]",
        "method.predictor_hidden=[64]",
        "method.projection_dim=32",
    ];
    let config = RunConfig::from_toml(
        "",
        &[
            format!("data.dataset=\"{gray}\""),
            "method.name=\"byol\"".into(),
            "encoder.width=0.25".into(),
            "train.batch_size=16".into(),
            "train.epochs=30".into(),
            "train.max_steps=40".into(),
            "train.checkpoint_every=0".into(),
            "optim.name=\"adamw\"".into(),
            "optim.lr=0.003".into(),
            "optim.weight_decay=0.0".into(),
            format!("train.out=\"{}\"", out.display()),
        ]
        .into_iter()
        .chain(small.iter().map(|s| s.to_string()))
        .collect::<Vec<_>>(),
        "t",
    )
    .unwrap();
    let summary = train::pretrain(
        config,
        RunOptions {
            quiet: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_falls("byol", &summary.losses);

    use pretext::method::Method;
    use pretext::method::byol::Byol;
    let device = burn::prelude::Device::flex().autodiff();
    let encoder = pretext::encoder::EncoderConfig {
        in_channels: 1,
        width: 0.25,
        ..Default::default()
    }
    .resolved(1, 28);
    let input = pretext::input::InputSpec {
        space: pretext::input::InputSpace::Native,
        channels: 1,
        image_size: 28,
        mean: vec![0.5],
        std: vec![0.5],
    };
    let context = pretext::method::MethodContext {
        encoder: encoder.clone(),
        input,
        source: std::sync::Arc::new(pretext_data::source::InMemory::new(vec![], vec![])),
    };
    let byol = Byol::new(Default::default(), &context).unwrap();
    let net = byol.after_init(pretext::method::Network {
        encoder: encoder.init(&device),
        head: byol.init_head(&encoder, &device),
    });
    let x = burn::prelude::Tensor::<4>::ones([2, 1, 28, 28], &device);
    let online: Vec<f32> = net
        .encoder
        .forward(x.clone())
        .into_data()
        .try_to_vec()
        .unwrap();
    let target: Vec<f32> = net
        .head
        .target_encoder
        .forward(x)
        .into_data()
        .try_to_vec()
        .unwrap();
    assert_eq!(online, target);
}
