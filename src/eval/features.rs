//! Frozen-encoder features of a whole dataset split, with an on-disk cache.

use crate::encoder::Encoder;
use crate::input::InputSpec;
use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::prelude::*;
use pretext_data::ImageSource;
use rayon::prelude::*;
use std::io::Read;
use std::path::Path;

/// Row-major `[n, dim]` features with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    /// Feature dimension.
    pub dim: usize,
    /// `n * dim` values.
    pub data: Vec<f32>,
    /// Class of each row.
    pub labels: Vec<u32>,
    /// Number of classes (max label + 1, or the source's class count).
    pub classes: usize,
}

impl Features {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The features of rows `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> Features {
        Features {
            data: rows
                .iter()
                .flat_map(|&i| self.row(i).iter().copied())
                .collect(),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            ..*self
        }
    }

    /// The rows as an `[n, dim]` tensor on `device`, scaled to unit ℓ2 norm (the cosine
    /// geometry of kNN and retrieval).
    pub fn normalized(&self, device: &Device) -> Tensor<2> {
        let t = Tensor::<2>::from_data(
            TensorData::new(self.data.clone(), [self.len(), self.dim]),
            device,
        );
        crate::method::embedding::l2_normalize(t)
    }

    /// Writes the features to `path` (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::with_capacity(24 + 4 * (self.data.len() + self.labels.len()));
        for v in [self.len(), self.dim, self.classes] {
            bytes.extend_from_slice(&(v as u64).to_le_bytes());
        }
        self.data
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        self.labels
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        Ok(pretext_data::atomic::write(path, &bytes)?)
    }

    /// Reads features written by [`Features::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .with_context(|| format!("cannot read feature cache {}", path.display()))?;
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                bytes.get(8 * i..8 * i + 8)?.try_into().ok()?,
            ))
        };
        let (Some(n), Some(dim), Some(classes)) = (word(0), word(1), word(2)) else {
            anyhow::bail!("{}: feature cache is truncated", path.display());
        };
        let (n, dim) = (n as usize, dim as usize);
        ensure!(
            bytes.len() == 24 + 4 * (n * dim + n),
            "{}: feature cache is truncated",
            path.display()
        );
        let floats = |range: std::ops::Range<usize>| -> Vec<[u8; 4]> {
            bytes[range]
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect()
        };
        let data = floats(24..24 + 4 * n * dim)
            .into_iter()
            .map(f32::from_le_bytes)
            .collect();
        let labels = floats(24 + 4 * n * dim..bytes.len())
            .into_iter()
            .map(u32::from_le_bytes)
            .collect();
        Ok(Features {
            dim,
            data,
            labels,
            classes: classes as usize,
        })
    }
}

/// The images `indices` of `source`, prepared with the encoder's deterministic evaluation
/// transform (decoded in parallel), as one `[n, C, S, S]` batch on `device`.
pub fn batch(
    input: &InputSpec,
    source: &dyn ImageSource,
    indices: &[usize],
    device: &Device,
) -> Result<Tensor<4>> {
    let prepared: Vec<Vec<f32>> = indices
        .par_iter()
        .map(|&i| Ok(input.eval_transform(source.get(i)?)))
        .collect::<Result<_>>()?;
    let size = input.image_size;
    let shape = [prepared.len(), input.channels, size, size];
    Ok(Tensor::<4>::from_data(
        TensorData::new(prepared.concat(), shape),
        device,
    ))
}

/// Computes the features of every labelled image of `source` with `encoder` in inference
/// mode (batch norm uses running statistics), preparing images with the encoder's
/// deterministic evaluation transform.
pub fn extract(
    encoder: &Encoder,
    input: &InputSpec,
    source: &dyn ImageSource,
    device: &Device,
    batch_size: usize,
) -> Result<Features> {
    let encoder = encoder.valid();
    let n = source.len();
    let classes = source.classes().map_or(0, <[String]>::len);
    let labels = (0..n)
        .map(|i| {
            source.label(i).with_context(|| {
                format!(
                    "{}: image {i} has no label; evaluation needs labels",
                    source.origin()
                )
            })
        })
        .collect::<Result<Vec<u32>>>()?;
    let mut data = Vec::new();
    let mut dim = 0;
    for start in (0..n).step_by(batch_size.max(1)) {
        let indices: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let out = encoder.forward(batch(input, source, &indices, device)?);
        dim = out.dims()[1];
        let values: Vec<f32> = out
            .into_data()
            .try_into_vec()
            .map_err(|e| anyhow::anyhow!("reading features: {e:?}"))?;
        data.extend(values);
    }
    let classes = classes.max(labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0));
    Ok(Features {
        dim,
        data,
        labels,
        classes,
    })
}

/// [`extract`] through a cache file: reuses `cache` when it exists, else computes and writes
/// it. `None` disables caching.
pub fn extract_cached(
    cache: Option<&Path>,
    compute: impl FnOnce() -> Result<Features>,
) -> Result<Features> {
    if let Some(path) = cache {
        if let Ok(features) = Features::load(path) {
            return Ok(features);
        }
        let features = compute()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        features.save(path)?;
        return Ok(features);
    }
    compute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let f = Features {
            dim: 2,
            data: vec![1.0, 2.0, 3.0, -4.5],
            labels: vec![0, 3],
            classes: 4,
        };
        let got = extract_cached(Some(&path), || Ok(f.clone())).unwrap();
        assert_eq!(got, f);
        let again = extract_cached(Some(&path), || anyhow::bail!("must not recompute")).unwrap();
        assert_eq!(again, f);
    }
}
