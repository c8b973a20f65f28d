//! The one network shape SimCLR, Barlow Twins and VICReg share: both views of every image go
//! through the same encoder and projector, and a loss compares the two batches of
//! projections. [`Siamese`] implements [`Method`] once for all of them; each of those methods
//! is its options plus a [`PairLoss`]. Trained as several MPI ranks, the loss sees the
//! projections of every rank ([`gather`]), so that it is the loss of the global batch.

use super::gather;
use super::views::{self, Sampler, Views};
use super::{Method, MethodContext, Network, Progress, StepOutput};
use crate::encoder::{Encoder, EncoderConfig};
use crate::head::{Mlp, MlpConfig};
use burn::prelude::*;
use pretext_data::Image;
use pretext_data::augment::ViewConfig;
use pretext_data::grid::Grid;
use pretext_data::rng::SampleRng;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A loss on the projections of two views, with its options.
pub trait PairLoss: Sized + Send + Sync + 'static {
    /// The method's options: the two views, the projector and the loss's own settings.
    type Config: Serialize + DeserializeOwned + Default + Clone + std::fmt::Debug + Send + Sync;

    /// Checks the loss's own options and builds it.
    fn new(config: &Self::Config) -> anyhow::Result<Self>;

    /// The two view recipes, to be resolved against the run's image size.
    fn views(config: &mut Self::Config) -> [&mut ViewConfig; 2];

    /// The projector's shape and its name in the config (for error messages).
    fn projector(config: &Self::Config) -> (&MlpConfig, &'static str);

    /// The loss of two `[N, D]` batches of projections (row `i` of both: image `i`) and named
    /// metrics to log.
    fn loss(&self, z1: Tensor<2>, z2: Tensor<2>) -> (Tensor<1>, Vec<(&'static str, Tensor<1>)>);
}

/// A method made of an encoder, a projector shared by both views, and the loss `L`.
pub struct Siamese<L: PairLoss> {
    config: L::Config,
    loss: L,
    views: Sampler,
}

impl<L: PairLoss> Siamese<L> {
    fn project(&self, net: &Network<Mlp>, x: Tensor<4>) -> Tensor<2> {
        net.head.forward(net.encoder.forward(x))
    }
}

impl<L: PairLoss> Method for Siamese<L> {
    type Config = L::Config;
    type Head = Mlp;
    type Sample = Views;

    fn new(mut config: L::Config, context: &MethodContext) -> anyhow::Result<Self> {
        let views = Sampler::resolved(L::views(&mut config), &context.input)?;
        let (projector, name) = L::projector(&config);
        projector.validate(name)?;
        Ok(Siamese {
            loss: L::new(&config)?,
            views,
            config,
        })
    }

    fn config(&self) -> &L::Config {
        &self.config
    }

    fn init_head(&self, encoder: &EncoderConfig, _online: &Encoder, device: &Device) -> Mlp {
        L::projector(&self.config)
            .0
            .init(encoder.feature_dim(), device)
    }

    fn sample(
        &self,
        image: Image,
        _target: pretext_data::Target<'_>,
        rng: &mut SampleRng,
    ) -> anyhow::Result<Views> {
        self.views.sample(&image, rng)
    }

    fn step(
        &self,
        net: &Network<Mlp>,
        batch: &[Views],
        device: &Device,
        _progress: Progress,
    ) -> StepOutput {
        let z = views::forward(batch, 0..2, device, |x| self.project(net, x));
        // Over several ranks, the loss of the global batch (negatives, statistics).
        let all = |z: &Tensor<2>| gather::across_ranks(z.clone());
        let (loss, metrics) = self.loss.loss(all(&z[0]), all(&z[1]));
        StepOutput {
            loss,
            metrics,
            embedding: Some(z[0].clone().detach()),
        }
    }

    fn render(&self, net: &Network<Mlp>, batch: &[Views], device: &Device) -> Option<Grid> {
        views::render(batch, device, |x| self.project(net, x))
    }
}
