//! From a configuration to what a run is made of: every default and data-dependent choice
//! made ([`resolve`]), the method built, and from them the run's data loader, network and
//! optimiser. The trainer, the throughput measurements and the task tools all start here.

use super::{optim, parallel};
use crate::checkpoint::{self, Checkpoint};
use crate::config::RunConfig;
use crate::distributed::Ranks;
use crate::encoder::{Encoder, EncoderConfig};
use crate::input::InputSpec;
use crate::method::{Method, MethodContext, Network, Progress, RunLength};
use anyhow::{Result, ensure};
use burn::prelude::*;
use pretext_data::ImageSource;
use pretext_data::loader::{self, LoaderConfig};
use std::path::Path;
use std::sync::Arc;

/// A configuration with every default and data-dependent choice made, and the method built.
pub(super) struct Resolved<M: Method> {
    /// The configuration, completed.
    pub config: RunConfig,
    /// The TOML text of `config`, written to the run directory and into checkpoints.
    pub text: String,
    /// The method, built from its options.
    pub method: Arc<M>,
    /// The encoder's architecture.
    pub encoder: EncoderConfig,
    /// The encoder's input.
    pub input: InputSpec,
    /// The training images.
    pub source: Arc<dyn ImageSource>,
    /// The weight decay the optimisers read, set before every step ([`Resolved::update`]).
    pub weight_decay: optim::DecayRate,
    /// The processes training together ([`crate::distributed`]): each loads its slice of
    /// every batch of `ranks.size × train.batch_size` images.
    pub ranks: Ranks,
}

/// `config` completed for the images of `source`: the image size, channels and
/// normalisation the data implies where the config leaves them out, the method's options
/// merged over its defaults, and the method built.
pub(super) fn resolve<M: Method>(
    mut config: RunConfig,
    source: Arc<dyn ImageSource>,
) -> Result<Resolved<M>> {
    let data = &config.data;
    let data_input = crate::dataset::native_input(
        &data.dataset,
        source.as_ref(),
        data.image_size,
        config.encoder.in_channels,
        &data.mean,
        &data.std,
    )?;
    let (image_size, encoder_channels) = (data_input.image_size, data_input.channels);
    // The options merge into the method's defaults table by table, so that
    // `method.projector.out=64` changes one width and keeps the default hidden layers.
    let mut options = toml::Table::try_from(M::Config::default())?;
    merge(&mut options, config.method.options.clone());
    let method_config: M::Config = crate::config::deserialize(toml::Value::Table(options))
        .map_err(|(key, message)| {
            anyhow::anyhow!(
                "method.{key} (an option of method `{}`): {message}",
                config.method.name
            )
        })?;
    let encoder = config
        .encoder
        .clone()
        .resolved(encoder_channels, image_size);
    let ranks = crate::distributed::ranks();
    let batch = config.train.batch_size * ranks.size;
    let per_epoch = loader::steps_per_epoch(source.len(), batch, true) as u64;
    // An impossible plan (no whole batch) is reported once the run starts.
    let run = super::schedule::Plan::new(&config, per_epoch, ranks.size).map_or_else(
        |_| RunLength::default(),
        |plan| RunLength {
            steps: plan.end,
            steps_per_epoch: per_epoch / plan.accumulate,
            images_per_step: plan.accumulate * batch as u64,
        },
    );
    let context = MethodContext {
        encoder: encoder.clone(),
        input: data_input.clone(),
        source: Arc::clone(&source),
        run,
    };
    let method = Arc::new(M::new(method_config, &context)?);
    apply_precision(&config.train);
    let input = method.input_spec(data_input);
    let encoder = EncoderConfig {
        in_channels: input.channels,
        ..encoder
    };
    encoder.validate()?;
    config.encoder = encoder.clone();
    config.data.image_size = image_size;
    config.data.mean = input.mean.clone();
    config.data.std = input.std.clone();
    config.method.options = toml::Table::try_from(method.config())?;
    Ok(Resolved {
        text: config.to_toml()?,
        weight_decay: optim::DecayRate::new(config.optim.weight_decay),
        config,
        method,
        encoder,
        input,
        source,
        ranks,
    })
}

/// Sets `train.precision` for the convolutions' products, with a warning where the CPU or the
/// device cannot run it (then fp32).
fn apply_precision(train: &crate::config::TrainConfig) {
    use crate::kernels::{Precision, set_precision};
    let wanted = match train.device.starts_with("flex") {
        true => train.precision,
        false if train.precision == Precision::Bf16 => {
            tracing::warn!(
                "train.precision = \"bf16\" is for the CPU (flex); {} trains in fp32",
                train.device
            );
            Precision::F32
        }
        false => Precision::F32,
    };
    if set_precision(wanted) != wanted {
        tracing::warn!(
            "train.precision = \"bf16\": this CPU has no AVX512-BF16 (bf16 dot products); training in fp32"
        );
    }
}

/// Overwrites `base` with `update`, descending into tables present in both.
fn merge(base: &mut toml::Table, update: toml::Table) {
    for (key, value) in update {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

impl<M: Method> Resolved<M> {
    /// Batches in one epoch (the last partial batch is dropped, as SSL trainers do), each of
    /// `train.batch_size` images from every rank.
    pub fn batches_per_epoch(&self) -> Result<u64> {
        let batch_size = self.config.train.batch_size * self.ranks.size;
        let batches = loader::steps_per_epoch(self.source.len(), batch_size, true) as u64;
        ensure!(
            batches > 0,
            "the dataset has {} images, fewer than one batch of {batch_size}",
            self.source.len()
        );
        Ok(batches)
    }

    /// The training data loader, starting at batch `position` of the whole run (epochs laid
    /// end to end; an optimiser step consumes `train.accumulate` batches).
    pub fn batches(&self, position: u64) -> Result<loader::Loader<Result<M::Sample>>> {
        let per_epoch = self.batches_per_epoch()?;
        let input = self.input.clone();
        let sampler = Arc::clone(&self.method);
        let labels = Arc::clone(&self.source);
        let (train, data) = (&self.config.train, &self.config.data);
        Ok(loader::spawn(
            Arc::clone(&self.source),
            LoaderConfig {
                batch_size: train.batch_size,
                seed: train.seed,
                shuffle: true,
                shuffle_buffer: data.shuffle_buffer,
                drop_last: true,
                prefetch: data.prefetch.max(1),
                start_epoch: position / per_epoch,
                start_step: (position % per_epoch) as usize,
                epochs: Some(train.epochs),
                skip_errors: data.skip_corrupt,
                threads: None,
                shard: loader::Shard {
                    index: self.ranks.rank,
                    count: self.ranks.size,
                },
            },
            move |image, rng, index| {
                sampler.sample(input.convert_channels(image), labels.target(index), rng)
            },
        ))
    }

    /// The run's network on `device`: freshly initialised from the run's seed (the encoder
    /// first, given the weights of `train.init_encoder` when set, then the method's heads on
    /// it, so that a target network starts as its copy), then given the weights of `saved`
    /// (read from `path`) if any.
    pub fn network(
        &self,
        device: &Device,
        saved: Option<(&Checkpoint, &Path)>,
    ) -> Result<Network<M::Head>> {
        let scope = crate::device::SeedScope::new(device, self.config.train.seed);
        let mut encoder = crate::device::materialize(self.encoder.init(device));
        // A resumed run takes every weight from its own checkpoint.
        if let (Some(weights), None) = (&self.config.train.init_encoder, saved) {
            encoder = init_encoder(encoder, &self.encoder, weights)?;
        }
        let head = self.method.init_head(&self.encoder, &encoder, device);
        let mut net = Network {
            head: crate::device::materialize(head),
            encoder,
        };
        drop(scope);
        if let Some((saved, path)) = saved {
            net.encoder = checkpoint::load_record(net.encoder, saved.encoder.clone(), path)?;
            net.head = checkpoint::load_record(net.head, saved.head.clone(), path)?;
        }
        net.encoder = net.encoder.freeze_stages(self.config.train.freeze_stages);
        Ok(net)
    }

    /// The run's network and optimiser on every device of `train.device` (weights and
    /// optimiser state from `saved` when resuming).
    pub fn replicas(
        &self,
        saved: Option<(&Checkpoint, &Path)>,
    ) -> Result<parallel::Replicas<M::Head>> {
        let train = &self.config.train;
        let devices: Vec<Device> = crate::device::parse_all(&train.device)?
            .into_iter()
            .map(Device::autodiff)
            .collect();
        let n = devices.len();
        ensure!(
            self.ranks.size == 1 || n == 1,
            "train.device = \"{}\" names {n} devices, but with several MPI ranks each rank \
             trains on one device (start one rank per GPU)",
            train.device
        );
        ensure!(
            !train.sync_bn || self.ranks.size == 1 || crate::kernels::run_on(&devices[0]),
            "train.sync_bn synchronises pretext's CPU batch norm; train.device = \"{}\" (or {}=burn) has none",
            train.device,
            crate::kernels::SWITCH
        );
        ensure!(
            train.batch_size.is_multiple_of(n),
            "train.batch_size = {} does not split evenly over the {n} devices of train.device = \"{}\"",
            train.batch_size,
            train.device
        );
        let net = self.network(&devices[0], saved)?;
        let mut optimizer = optim::build_scheduled(&self.config.optim, &self.weight_decay);
        if let Some((saved, path)) = saved {
            optimizer = optimizer
                .from_bytes(burn::tensor::Bytes::from_bytes_vec(saved.optimizer.clone()))
                .map_err(|e| anyhow::anyhow!("{}: optimizer state: {e:?}", path.display()))?;
        }
        let replicas = parallel::Replicas::new(net, optimizer, &devices, self.ranks)?
            .with_sync_bn(train.sync_bn);
        if n > 1 {
            tracing::info!(
                "data-parallel over {n} devices, {} images each per batch, gradients summed {:?}",
                train.batch_size / n,
                replicas.reduction()
            );
        }
        Ok(replicas)
    }

    /// The optimiser step at `lr` (the encoder at `lr × optim.encoder_lr_scale`, decayed by
    /// `optim.layer_decay` per layer below the top) with weight
    /// decay `weight_decay`, then the method's after-step (e.g. BYOL's target update) for
    /// optimiser step `step` of `total`.
    pub fn update(
        &self,
        replicas: &mut parallel::Replicas<M::Head>,
        (lr, weight_decay): (f64, f64),
        step: u64,
        total: u64,
    ) -> Result<()> {
        let progress = Progress {
            step,
            total_steps: total,
        };
        self.weight_decay.set(weight_decay);
        let encoder_lr = optim::EncoderLr {
            scale: self.config.optim.encoder_lr_scale,
            layer_decay: self.config.optim.layer_decay,
        };
        replicas.update(self.method.as_ref(), lr, encoder_lr, progress)
    }
}

/// `encoder` with the weights of `path`: a pretext run directory or checkpoint (whose
/// encoder must have the same configuration), or a safetensors file under PyTorch's names.
fn init_encoder(encoder: Encoder, config: &EncoderConfig, path: &Path) -> Result<Encoder> {
    let file = checkpoint::resolve(path);
    if !checkpoint::is_checkpoint(&file) {
        return crate::export::import(encoder, path);
    }
    let (header, bytes) = Checkpoint::load_encoder(&file)?;
    ensure!(
        header.encoder.same_weights(config),
        "{}: its encoder is {:?}, this run's is {:?} (set [encoder] to match)",
        file.display(),
        header.encoder,
        config
    );
    checkpoint::load_record(encoder, bytes, &file)
}
