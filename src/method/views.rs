//! What the joint-embedding methods share on the input side: several augmented views of
//! each image (two for BYOL and its siblings, two global plus several local crops for DINO's
//! multi-crop), their batching, one forward pass per view resolution, and the picture
//! `pretext show` draws of them.

use super::embedding::row_cosine;
use super::{display, stack_images};
use crate::input::InputSpec;
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use std::ops::Range;

/// Views smaller than this many pixels use the small-image variant of a recipe: no Gaussian
/// blur, as solo-learn's and lightly's CIFAR recipes (a 3-pixel kernel at 28–32 px wipes out
/// most of the image).
pub const SMALL_IMAGE: usize = 64;

/// The normalised views of one image, in the order the method's view configs list them.
pub struct Views {
    views: Vec<Vec<f32>>,
    shapes: Vec<[usize; 3]>,
}

impl Views {
    /// Number of views.
    pub fn len(&self) -> usize {
        self.views.len()
    }

    /// Whether there are no views.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }
}

/// Fills in a view's size and checks it: a view with `size` 0 takes `image_size` and, below
/// [`SMALL_IMAGE`] pixels, becomes the small-image variant (no blur). A view with an explicit
/// size is kept as written.
pub fn resolve(view: &mut ViewConfig, image_size: usize) -> anyhow::Result<()> {
    if view.size == 0 {
        view.size = image_size;
        if image_size < SMALL_IMAGE {
            view.blur_prob = 0.0;
        }
    }
    view.validate()?;
    Ok(())
}

/// The views a method draws of each image, normalised for its encoder: BYOL, SimSiam, MoCo
/// and the SimCLR family draw two, DINO two global and several local crops.
#[derive(Clone, Debug)]
pub struct Sampler {
    configs: Vec<ViewConfig>,
    input: InputSpec,
}

impl Sampler {
    /// Draws `views` in order, each resolved first for `input`'s image size ([`resolve`], in
    /// place, so that the method's configuration records the views it draws).
    pub fn resolved<'a>(
        views: impl IntoIterator<Item = &'a mut ViewConfig>,
        input: &InputSpec,
    ) -> anyhow::Result<Sampler> {
        let mut configs = Vec::new();
        for view in views {
            resolve(view, input.image_size)?;
            configs.push(view.clone());
        }
        Ok(Sampler::new(configs, input))
    }

    /// Draws `configs` (resolved already) in order.
    pub fn new(configs: impl IntoIterator<Item = ViewConfig>, input: &InputSpec) -> Sampler {
        Sampler {
            configs: configs.into_iter().collect(),
            input: input.clone(),
        }
    }

    /// The views of `image`, all randomness from `rng` ([`sample`]): a method's `sample`.
    pub fn sample(&self, image: &Image, rng: &mut SampleRng) -> anyhow::Result<Views> {
        Ok(sample(&self.configs, &self.input, image, rng))
    }
}

/// Draws one view per config from `image` (values in `[0, 1]`) and normalises each with the
/// encoder's statistics. All randomness comes from `rng`, view after view.
pub fn sample<'a>(
    configs: impl IntoIterator<Item = &'a ViewConfig>,
    input: &InputSpec,
    image: &Image,
    rng: &mut SampleRng,
) -> Views {
    let (views, shapes) = configs
        .into_iter()
        .map(|config| {
            let view = input.normalize(config.apply(image, rng));
            let shape = [view.channels, view.height, view.width];
            (view.data, shape)
        })
        .unzip();
    Views { views, shapes }
}

/// View `view` of every image of the batch as one `[N, C, H, W]` tensor.
pub fn stack(batch: &[Views], view: usize, device: &Device) -> Tensor<4> {
    let shape = batch.first().map_or([0; 3], |s| s.shapes[view]);
    stack_images(
        batch.iter().map(|s| s.views[view].as_slice()),
        shape,
        device,
    )
}

/// Runs `network` on views `views` of the batch and returns one `[N, D]` output per view.
///
/// Consecutive views of one resolution go through `network` together, in a single batch of
/// `k·N` images (DINO's multi-crop wrapper does the same): batch norm then sees every view of
/// that resolution, as in SimCLR's and BYOL's implementations, and a CPU runs fewer, larger
/// operations.
pub fn forward(
    batch: &[Views],
    views: Range<usize>,
    device: &Device,
    network: impl Fn(Tensor<4>) -> Tensor<2>,
) -> Vec<Tensor<2>> {
    let n = batch.len();
    let Some(first) = batch.first() else {
        return Vec::new();
    };
    let mut outputs = Vec::with_capacity(views.len());
    let mut start = views.start;
    while start < views.end {
        let end = (start..views.end)
            .find(|&v| first.shapes[v] != first.shapes[start])
            .unwrap_or(views.end);
        // One buffer for the whole group: view `start` of every image, then view `start + 1`…
        let images = stack_images(
            (start..end).flat_map(|v| batch.iter().map(move |s| s.views[v].as_slice())),
            first.shapes[start],
            device,
        );
        let out = network(images);
        outputs.extend(out.chunk(end - start, 0));
        start = end;
    }
    debug_assert!(outputs.iter().all(|o| o.dims()[0] == n));
    outputs
}

/// The picture of a joint-embedding method: for up to six images, every view the network
/// sees, captioned with the cosine similarity between the first two views' embeddings
/// (`embed` maps a batch of one view to its embeddings, e.g. the online projection).
pub fn render(
    batch: &[Views],
    device: &Device,
    embed: impl Fn(Tensor<4>) -> Tensor<2>,
) -> Option<Grid> {
    let shown = &batch[..batch.len().min(6)];
    let first = shown.first()?;
    let cosines: Vec<f32> = if first.len() >= 2 {
        row_cosine(
            embed(stack(shown, 0, device)),
            embed(stack(shown, 1, device)),
        )
        .into_data()
        .try_into_vec()
        .ok()?
    } else {
        vec![f32::NAN; shown.len()]
    };
    let mut grid = Grid::new(first.len(), 64);
    for (sample, cos) in shown.iter().zip(cosines) {
        for (v, (data, &[c, h, w])) in sample.views.iter().zip(&sample.shapes).enumerate() {
            let image = display(Image {
                channels: c,
                height: h,
                width: w,
                data: data.clone(),
            });
            let caption = match v {
                0 => format!("view 1, cos(1,2) {cos:.2}"),
                _ => format!("view {}", v + 1),
            };
            grid.push(&image, &caption);
        }
    }
    Some(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_views_drop_blur_and_explicit_sizes_are_kept() {
        let mut small = ViewConfig::byol_view1(0);
        resolve(&mut small, 28).unwrap();
        assert_eq!((small.size, small.blur_prob), (28, 0.0));
        let mut large = ViewConfig::byol_view1(0);
        resolve(&mut large, 96).unwrap();
        assert_eq!((large.size, large.blur_prob), (96, 1.0));
        let mut explicit = ViewConfig::byol_view1(28);
        resolve(&mut explicit, 28).unwrap();
        assert_eq!(explicit.blur_prob, 1.0);
    }

    #[test]
    fn forward_groups_views_by_resolution_and_splits_them_back() {
        let device = Device::flex();
        let view = |size: usize, value: f32| (vec![value; size * size], [1, size, size]);
        let batch: Vec<Views> = (0..3)
            .map(|i| {
                let (views, shapes) = [view(4, i as f32), view(4, 10.0 + i as f32), view(2, -1.0)]
                    .into_iter()
                    .unzip();
                Views { views, shapes }
            })
            .collect();
        let calls = std::cell::Cell::new(0);
        let out = forward(&batch, 0..3, &device, |x| {
            calls.set(calls.get() + 1);
            let [n, _, h, w] = x.dims();
            x.reshape([n, h * w]).mean_dim(1)
        });
        assert_eq!(calls.get(), 2, "two resolutions, two passes");
        let values: Vec<Vec<f32>> = out
            .into_iter()
            .map(|t| t.into_data().try_into_vec().unwrap())
            .collect();
        assert_eq!(
            values,
            vec![vec![0.0, 1.0, 2.0], vec![10.0, 11.0, 12.0], vec![-1.0; 3]]
        );
    }
}
