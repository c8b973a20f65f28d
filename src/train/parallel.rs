//! Data parallelism: one replica of the network per device, each training on its own slice of
//! every batch, all replicas kept identical by summing their gradients before each optimiser
//! step (Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel
//! Training"; burn's DDP strategy).
//!
//! With one device (the default) this is the plain loop: no thread, no copy. With `n` devices
//! (`train.device = "cuda:0,cuda:1"`), a batch of `B` images is cut into `n` slices of `B/n`
//! in order; replica `k` computes the loss of slice `k` divided by `n` (and by the batches of
//! one optimiser step, `train.accumulate`), so that the sum of the replicas' gradients is the
//! gradient of the mean loss over the batch. Every replica then applies the same summed
//! gradient with its own copy of the optimiser state, and runs the method's after-step (BYOL's
//! target update): parameters, optimiser state and target networks stay equal without ever
//! being sent, as in PyTorch's `DistributedDataParallel`.
//!
//! What differs from one device, as in PyTorch's DDP:
//! - batch normalisation normalises each slice with its own statistics, and each replica keeps
//!   its own running statistics; checkpoints, probes and pictures use the first replica's
//!   (PyTorch's DDP broadcasts rank 0's buffers at each forward; there is no SyncBatchNorm);
//! - losses that compare the images of a batch (SimCLR's negatives, Barlow Twins' and VICReg's
//!   statistics, DINO's centre, MoCo's queue) see only their replica's slice: gradients are
//!   all-reduced, embeddings are not gathered (lightly's losses by default,
//!   `gather_distributed=False`).
//!
//! Across processes ([`crate::distributed`], `mpirun -np N`), each process holds replicas of
//! its own and its slice of every global batch; the losses are further divided by `N`, and the
//! gradients summed on each process's first device are then summed over the processes
//! (`MPI_Allreduce`) before each optimiser step, with the same consequences as above.

use super::optim::{EncoderLr, NetworkGradients};
use crate::distributed::{self, Ranks};
use crate::method::{Method, Network, Progress, StepOutput};
use anyhow::{Context, Result, ensure};
use burn::module::{Module, ModuleDisplay};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

/// How the replicas' gradients are summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// One device: nothing to sum.
    Single,
    /// NCCL all-reduce, launched by burn's autodiff during each backward pass as each
    /// parameter's gradient is ready (burn's DDP: the parameters are marked with
    /// `Tensor::set_distributed`). CUDA devices with NCCL installed.
    Collective,
    /// The gradients are gathered on the first device, summed there and copied back to every
    /// device. Works on any backend: several `flex` replicas, or GPUs without NCCL.
    Host,
}

impl Reduction {
    /// The reduction for `devices`: [`Reduction::Collective`] when they are all GPUs and NCCL
    /// loads, [`Reduction::Host`] otherwise.
    pub fn for_devices(devices: &[Device]) -> Reduction {
        if devices.len() < 2 {
            return Reduction::Single;
        }
        #[cfg(feature = "cuda")]
        {
            use burn::backend::DispatchDevice;
            let all_gpus = devices
                .iter()
                .all(|d| matches!(d.clone().inner().as_dispatch(), DispatchDevice::Cube(_)));
            if all_gpus {
                if crate::device::nccl_loads() {
                    return Reduction::Collective;
                }
                tracing::warn!(
                    "NCCL (libnccl.so.2) cannot be loaded: the GPUs' gradients are summed \
                     through the host, which is slower; install NCCL for the direct all-reduce"
                );
            }
        }
        Reduction::Host
    }
}

/// One device's copy of the network, its optimiser state and its gradients so far.
struct Replica<H: Module> {
    device: Device,
    net: Network<H>,
    optimizer: ModuleOptimizer,
    gradients: NetworkGradients<H>,
}

/// The replicas of a run's network, one per device; the first one is the one that is saved,
/// probed and drawn.
pub struct Replicas<H: Module> {
    replicas: Vec<Replica<H>>,
    reduction: Reduction,
    /// The processes training together, whose gradients are summed too.
    ranks: Ranks,
    /// Batch norm takes the statistics of every rank's batch (`train.sync_bn`).
    sync_bn: bool,
    /// Keeps burn's gradient-synchronisation server running for [`Reduction::Collective`];
    /// dropped (and the server closed) after the replicas.
    _collective: Option<burn::tensor::distributed::DistributedContext>,
}

impl<H: Module + ModuleDisplay> Replicas<H> {
    /// Copies `net` (on the first of `devices`) and `optimizer` onto every device of `devices`
    /// (autodiff devices) and chooses the [`Reduction`]; the gradients are summed over `ranks`
    /// too.
    pub fn new(
        net: Network<H>,
        optimizer: ModuleOptimizer,
        devices: &[Device],
        ranks: Ranks,
    ) -> Result<Self> {
        ensure!(!devices.is_empty(), "no device to train on");
        let reduction = Reduction::for_devices(devices);
        let collective = (reduction == Reduction::Collective).then(|| {
            burn::tensor::distributed::DistributedContext::init(
                devices.to_vec(),
                burn::tensor::distributed::DistributedConfig {
                    all_reduce_op: burn::tensor::distributed::ReduceOperation::Sum,
                },
            )
        });
        let forks: Vec<_> = devices[1..].iter().map(|d| net.clone().fork(d)).collect();
        let replicas = devices
            .iter()
            .zip(std::iter::once(net).chain(forks))
            .map(|(device, net)| {
                let net = match reduction {
                    Reduction::Collective => net.map(&mut MarkDistributed),
                    Reduction::Single | Reduction::Host => net,
                };
                Replica {
                    device: device.clone(),
                    net,
                    optimizer: optimizer.clone(),
                    gradients: NetworkGradients::default(),
                }
            })
            .collect();
        Ok(Replicas {
            replicas,
            reduction,
            ranks,
            sync_bn: false,
            _collective: collective,
        })
    }

    /// Synchronises batch norm over the ranks in the forward and backward passes
    /// (`train.sync_bn`; [`distributed::SyncBatchNorm`]).
    pub fn with_sync_bn(mut self, on: bool) -> Self {
        self.sync_bn = on;
        self
    }

    /// How the gradients are summed.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// The first replica's network.
    pub fn net(&self) -> &Network<H> {
        &self.replicas[0].net
    }

    /// The first replica's optimiser state.
    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.replicas[0].optimizer
    }

    /// The first device.
    pub fn device(&self) -> &Device {
        &self.replicas[0].device
    }

    /// Forward and backward pass of one batch, cut into one slice per replica: adds to each
    /// replica's gradients those of its slice's loss divided by `parts × replicas × ranks`
    /// (`parts`: the batches of one optimiser step). Returns the mean of the slices'
    /// (undivided) losses over every replica of every rank, and the first replica's output.
    /// Reading the losses waits for the devices (and for the other ranks).
    pub fn forward_backward<M: Method<Head = H>>(
        &mut self,
        method: &M,
        samples: &[M::Sample],
        parts: u64,
        progress: Progress,
    ) -> Result<(f64, StepOutput)> {
        let n = self.replicas.len();
        ensure!(
            !samples.is_empty() && samples.len().is_multiple_of(n),
            "a batch of {} images does not split evenly over {n} devices; make train.batch_size \
             a multiple of {n}",
            samples.len()
        );
        let divisor = (parts * (n * self.ranks.size) as u64) as f64;
        let _synced = self.sync_bn.then(distributed::SyncBatchNorm::during);
        let slices = samples.chunks(samples.len() / n).collect();
        let outputs = self.each(slices, |mut replica, slice| {
            let output = method.step(&replica.net, slice, &replica.device, progress);
            let value = f64::from(output.loss.clone().into_scalar::<f32>());
            let scaled = output.loss.clone().div_scalar(divisor);
            replica
                .gradients
                .accumulate(&replica.net, scaled.backward());
            (replica, (value, output))
        });
        let here = outputs.iter().map(|(value, _)| value).sum::<f64>();
        let loss = distributed::sum(here) / (n * self.ranks.size) as f64;
        let (_, first) = outputs.into_iter().next().context("no replica to train")?;
        Ok((loss, first))
    }

    /// The optimiser step on the summed gradients (the head at `lr`, the encoder at
    /// as `encoder_lr` says), then the method's after-step, on every replica.
    pub fn update<M: Method<Head = H>>(
        &mut self,
        method: &M,
        lr: f64,
        encoder_lr: EncoderLr,
        progress: Progress,
    ) -> Result<()> {
        self.sum()?;
        let n = self.replicas.len();
        self.each(vec![(); n], |replica, ()| {
            let Replica {
                device,
                net,
                mut optimizer,
                gradients,
            } = replica;
            let net = gradients.step(&mut optimizer, net, lr, encoder_lr);
            let replica = Replica {
                device,
                net: method.after_step(net, progress),
                optimizer,
                gradients: NetworkGradients::default(),
            };
            (replica, ())
        });
        Ok(())
    }

    /// Sums the gradients where the backward passes did not already: the replicas' on the
    /// first device ([`Reduction::Host`]), then the processes' (with several ranks), and gives
    /// every replica a copy of the sum.
    fn sum(&mut self) -> Result<()> {
        let Some((first, rest)) = self.replicas.split_first_mut() else {
            return Ok(());
        };
        if self.reduction == Reduction::Host {
            for replica in rest.iter_mut() {
                let gradients = std::mem::take(&mut replica.gradients);
                first.gradients.absorb(&first.net, gradients, &first.device);
            }
        }
        if self.ranks.size > 1 {
            first
                .gradients
                .reduce_flat(&first.net, &first.device, all_reduce_across_ranks)?;
        }
        if self.reduction == Reduction::Host || self.ranks.size > 1 {
            for replica in rest {
                replica.gradients = first.gradients.copy_to(&replica.net, &replica.device);
            }
        }
        Ok(())
    }

    /// Runs `f` on every replica (moved in and handed back) with its input, concurrently when
    /// there are several (one thread per device, as the collective all-reduce needs every
    /// device in its backward pass at once), and returns the results in replica order.
    fn each<I: Send, T: Send>(
        &mut self,
        inputs: Vec<I>,
        f: impl Fn(Replica<H>, I) -> (Replica<H>, T) + Sync,
    ) -> Vec<T> {
        let replicas = std::mem::take(&mut self.replicas);
        let results: Vec<(Replica<H>, T)> = if replicas.len() == 1 {
            replicas
                .into_iter()
                .zip(inputs)
                .map(|(r, i)| f(r, i))
                .collect()
        } else {
            let f = &f;
            std::thread::scope(|scope| {
                let handles: Vec<_> = replicas
                    .into_iter()
                    .zip(inputs)
                    .map(|(replica, input)| scope.spawn(move || f(replica, input)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| {
                        handle
                            .join()
                            .unwrap_or_else(|e| std::panic::resume_unwind(e))
                    })
                    .collect()
            })
        };
        let (replicas, outputs) = results.into_iter().unzip();
        self.replicas = replicas;
        outputs
    }
}

/// Sums `gradients` over the ranks, after checking that every rank has as many values (the
/// same network with the same trainable parameters).
fn all_reduce_across_ranks(gradients: &mut [f32]) -> Result<()> {
    let first = distributed::broadcast(gradients.len() as u64);
    ensure!(
        first == gradients.len() as u64,
        "rank {} has {} gradient values, rank 0 {first}: the ranks do not train the same network",
        distributed::ranks().rank,
        gradients.len()
    );
    distributed::all_reduce_sum(gradients);
    Ok(())
}

/// Marks every parameter for burn's gradient synchronisation (its DDP sharder's mapping).
struct MarkDistributed;

impl burn::module::ModuleMapper for MarkDistributed {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        burn::module::Param::from_mapped_value(id, tensor.set_distributed(id), mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One device sums nothing; CPU replicas sum on the host (flex has no collective).
    #[test]
    fn the_reduction_follows_the_devices() {
        let flex = Device::flex().autodiff();
        assert_eq!(
            Reduction::for_devices(std::slice::from_ref(&flex)),
            Reduction::Single
        );
        assert_eq!(
            Reduction::for_devices(&[flex.clone(), flex]),
            Reduction::Host
        );
    }
}
