//! Encoders as safetensors files under PyTorch's parameter names, so that a pretrained
//! encoder leaves pretext: `torchvision.models.resnet18()` (with `fc` removed, and the CIFAR
//! stem where the run used it) loads an exported ResNet with `strict=True`, timm's
//! `create_model("vit_tiny_patch16_224", num_classes=0, …)` an exported ViT, and torchvision
//! and timm weights load back into pretext as an initialisation.
//!
//! The mapping from burn's module paths:
//! - batch norm and layer norm `gamma` / `beta` → `weight` / `bias`, plus the
//!   `num_batches_tracked` counter PyTorch keeps for batch norms (written as 0, read and
//!   ignored);
//! - linear weights transposed to PyTorch's `[out, in]`;
//! - a block's shortcut `downsample.conv` / `downsample.bn` → `downsample.0` / `downsample.1`;
//! - the encoder's enum variant is dropped from every path (`ResNet.conv1.weight` →
//!   `conv1.weight`).
//!
//! The file's metadata records the encoder configuration and its input contract (channels,
//! size, normalisation) under [`METADATA_KEY`], so the file alone says how to use it.

use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use anyhow::{Context, Result, bail, ensure};
use burn::prelude::*;
use burn::store::burn_pack::{DType as PackDType, Tensor as PackTensor};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Metadata key under which the [`ExportInfo`] JSON is stored.
pub const METADATA_KEY: &str = "pretext";

/// What an exported file says about its encoder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportInfo {
    /// Architecture, width, input channels and stem.
    pub encoder: EncoderConfig,
    /// Channels, image size and normalisation the encoder expects.
    pub input: InputSpec,
}

/// PyTorch's name for a burn path (after the enum variant is dropped and batch-norm
/// parameters renamed by burn-store's adapter).
fn torch_name(burn: &str) -> String {
    burn.replace("downsample.conv.", "downsample.0.")
        .replace("downsample.bn.", "downsample.1.")
}

/// burn's path for a PyTorch name (the inverse of [`torch_name`]).
fn burn_name(torch: &str) -> String {
    torch
        .replace("downsample.0.", "downsample.conv.")
        .replace("downsample.1.", "downsample.bn.")
}

/// One tensor of an export: name, element type, shape and little-endian bytes.
type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

/// The encoder's tensors under PyTorch's names, with a `num_batches_tracked` entry (i64,
/// shape `[]`) for every batch norm.
fn torch_tensors(encoder: &Encoder) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for tensor in encoder.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
        let (name, dtype, shape, _, bytes) = tensor
            .into_parts()
            .map_err(|e| anyhow::anyhow!("reading weights: {e:?}"))?;
        ensure!(
            dtype == PackDType::F32,
            "{name}: only f32 weights can be exported, found {dtype:?}"
        );
        let name = torch_name(&name);
        if let Some(prefix) = name.strip_suffix(".running_var") {
            out.push((
                format!("{prefix}.num_batches_tracked"),
                Dtype::I64,
                Vec::new(),
                0i64.to_le_bytes().to_vec(),
            ));
        }
        out.push((name, Dtype::F32, shape.to_vec(), bytes.to_vec()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes `encoder` to `path` as safetensors under PyTorch's names (atomically).
pub fn export(encoder: &Encoder, info: &ExportInfo, path: &Path) -> Result<()> {
    let tensors = torch_tensors(encoder)?;
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .with_context(|| format!("{name}: inconsistent tensor"))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([(METADATA_KEY.to_string(), serde_json::to_string(info)?)]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| anyhow::anyhow!("cannot serialise the encoder: {e}"))?;
    Ok(pretext_data::atomic::write(path, &bytes)?)
}

/// Exports the encoder of a checkpoint (a run directory or checkpoint file) to `out`. With
/// `sample > 0`, also writes `out` with the extension `sample.safetensors`: `input`, the first
/// `sample` images of the run's test split prepared as the encoder expects them (`[N, C, H,
/// W]`), and `features`, pretext's features of them (`[N, D]`, inference mode), so that any
/// framework loading the export can check it computes the same features.
pub fn export_checkpoint(checkpoint: &Path, out: &Path, sample: usize) -> Result<()> {
    let device = Device::flex();
    let (header, encoder) = crate::checkpoint::load_encoder(checkpoint, &device)?;
    let info = ExportInfo {
        encoder: header.encoder.clone(),
        input: header.input.clone(),
    };
    export(&encoder, &info, out)?;
    if sample == 0 {
        return Ok(());
    }
    let config = crate::config::RunConfig::from_toml(&header.config, &[], "checkpoint")?;
    let data = &config.data;
    let source = crate::dataset::open(&data.dataset, pretext_data::Split::Test, data.skip_corrupt)?;
    let n = sample.min(source.len());
    let mut pixels = Vec::new();
    for i in 0..n {
        pixels.extend(info.input.eval_transform(source.get(i)?));
    }
    let [c, s] = [info.input.channels, info.input.image_size];
    let input = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [n, c, s, s]), &device);
    let features: Vec<f32> = encoder
        .forward(input)
        .into_data()
        .try_into_vec()
        .map_err(|e| anyhow::anyhow!("reading features: {e:?}"))?;
    let dim = features.len() / n.max(1);
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (input_bytes, feature_bytes) = (bytes(&pixels), bytes(&features));
    let views = vec![
        (
            "input".to_string(),
            TensorView::new(Dtype::F32, vec![n, c, s, s], &input_bytes)?,
        ),
        (
            "features".to_string(),
            TensorView::new(Dtype::F32, vec![n, dim], &feature_bytes)?,
        ),
    ];
    let encoded = safetensors::serialize(views, None)
        .map_err(|e| anyhow::anyhow!("cannot serialise the sample: {e}"))?;
    Ok(pretext_data::atomic::write(
        &out.with_extension("sample.safetensors"),
        &encoded,
    )?)
}

/// Reads the [`ExportInfo`] of a file written by [`export`] (`None` for files from
/// elsewhere, e.g. torchvision weights converted to safetensors).
pub fn read_info(path: &Path) -> Result<Option<ExportInfo>> {
    let bytes = read(path)?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .map(|json| {
            serde_json::from_str(json)
                .with_context(|| format!("{}: malformed `{METADATA_KEY}` metadata", path.display()))
        })
        .transpose()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads PyTorch-named weights from the safetensors file `path` into `encoder`: every
/// parameter and running statistic of the encoder must be present with its shape. Entries a
/// torchvision or timm classifier has besides the encoder (`fc.*`, `head.*`) and
/// `num_batches_tracked` are ignored; any other entry is an error, so that a file for another
/// architecture is never half-loaded.
pub fn import(encoder: Encoder, path: &Path) -> Result<Encoder> {
    let bytes = read(path)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let mut tensors = Vec::new();
    for (name, view) in file.tensors() {
        if name.ends_with(".num_batches_tracked")
            || name.starts_with("fc.")
            || name.starts_with("head.")
        {
            continue;
        }
        ensure!(
            view.dtype() == Dtype::F32,
            "{}: tensor {name} is {:?}; pretext reads f32 weights",
            path.display(),
            view.dtype()
        );
        tensors.push(PackTensor::new(
            burn_name(&name),
            PackDType::F32,
            view.shape().to_vec(),
            None,
            burn::tensor::Bytes::from_bytes_vec(view.data().to_vec()),
        ));
    }
    let mut encoder = encoder;
    let result = encoder.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        bail!(
            "{}: the weights do not fit this encoder: {} errors {:?}, missing {:?}, unexpected {:?}",
            path.display(),
            result.errors.len(),
            result.errors.iter().take(3).collect::<Vec<_>>(),
            missing.iter().take(5).collect::<Vec<_>>(),
            result.unused.iter().take(5).collect::<Vec<_>>()
        );
    }
    Ok(encoder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{Architecture, Stem};

    fn resnet18(stem: Stem) -> EncoderConfig {
        EncoderConfig {
            arch: Architecture::Resnet18,
            stem,
            ..EncoderConfig::default()
        }
        .resolved(3, 32)
    }

    /// Names and shapes equal torchvision's `state_dict()` (without `fc`) and timm's (with
    /// `num_classes=0`), as recorded by `bench/reference/torchvision_keys.py` and
    /// `timm_keys.py` in `tests/data/`.
    #[test]
    fn names_and_shapes_are_torchvisions_and_timms() {
        let reference = [
            include_str!("../tests/data/torchvision_keys.txt"),
            include_str!("../tests/data/timm_keys.txt"),
        ]
        .concat();
        let device = Device::flex();
        for (arch, layer_scale, name) in [
            (Architecture::Resnet18, 0.0, "resnet18"),
            (Architecture::Resnet50, 0.0, "resnet50"),
            (Architecture::VitTiny, 0.0, "vit-tiny"),
            (Architecture::VitSmall, 0.0, "vit-small"),
            (Architecture::VitBase, 0.0, "vit-base"),
            (Architecture::VitTiny, 1e-5, "vit-tiny-ls"),
        ] {
            let config = EncoderConfig {
                arch,
                stem: Stem::Imagenet,
                layer_scale,
                ..EncoderConfig::default()
            }
            .resolved(3, 224);
            let mut ours: Vec<String> = torch_tensors(&config.init(&device))
                .unwrap()
                .into_iter()
                .map(|(key, _, shape, _)| {
                    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
                    match dims.is_empty() {
                        true => format!("{key} scalar"),
                        false => format!("{key} {}", dims.join("x")),
                    }
                })
                .collect();
            let mut theirs: Vec<String> = reference
                .lines()
                .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .map(str::to_string)
                .collect();
            ours.sort();
            theirs.sort();
            assert!(!theirs.is_empty());
            assert_eq!(ours, theirs, "{name}");
        }
    }

    #[test]
    fn export_then_import_gives_the_same_features() {
        let device = Device::flex();
        let config = resnet18(Stem::Cifar);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.safetensors");
        let (a, b) =
            crate::device::seeded(&device, 1, || (config.init(&device), config.init(&device)));
        let info = ExportInfo {
            encoder: config.clone(),
            input: crate::input::InputSpec {
                space: crate::input::InputSpace::Native,
                channels: 3,
                image_size: 32,
                mean: vec![0.5; 3],
                std: vec![0.5; 3],
            },
        };
        export(&a, &info, &path).unwrap();
        assert_eq!(read_info(&path).unwrap().unwrap().encoder, config);
        let b = import(b, &path).unwrap();
        let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let fa: Vec<f32> = a.forward(x.clone()).into_data().try_into_vec().unwrap();
        let fb: Vec<f32> = b.forward(x).into_data().try_into_vec().unwrap();
        assert_eq!(fa, fb);
        // Weights of another architecture are refused with the file's name.
        let other = EncoderConfig {
            arch: Architecture::Resnet50,
            ..config
        };
        let err = import(other.init(&device), &path).unwrap_err().to_string();
        assert!(
            err.contains("enc.safetensors") && err.contains("do not fit"),
            "{err}"
        );
    }

    #[test]
    fn a_vit_round_trips_and_a_timm_classifier_is_ignored() {
        let device = Device::flex();
        let config = EncoderConfig {
            arch: Architecture::VitTiny,
            width: 0.25,
            depth: 2,
            layer_scale: 0.1,
            ..EncoderConfig::default()
        }
        .resolved(1, 28);
        let (a, b) =
            crate::device::seeded(&device, 1, || (config.init(&device), config.init(&device)));
        // timm's checkpoints carry the classifier (`head.weight`, `head.bias`) beside the encoder.
        let mut tensors = torch_tensors(&a).unwrap();
        let zeros = |n: usize| vec![0u8; 4 * n];
        tensors.push(("head.weight".into(), Dtype::F32, vec![10, 48], zeros(480)));
        tensors.push(("head.bias".into(), Dtype::F32, vec![10], zeros(10)));
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
                )
            })
            .collect::<Vec<_>>();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timm.safetensors");
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        assert!(read_info(&path).unwrap().is_none());
        let b = import(b, &path).unwrap();
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let fa: Vec<f32> = a.forward(x.clone()).into_data().try_into_vec().unwrap();
        let fb: Vec<f32> = b.forward(x).into_data().try_into_vec().unwrap();
        assert_eq!(fa, fb);
    }
}
