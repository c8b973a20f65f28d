//! A prefetching, parallel, reproducible batch loader.
//!
//! [`spawn`] starts a background thread that walks the epochs, cuts each epoch's order into
//! batches, builds every batch's samples in parallel with rayon (decode with
//! [`ImageSource::get`], then the caller's `make`, typically an augmentation) and queues finished
//! batches in a bounded channel, so the training loop finds the next batch ready when the
//! per-sample work is cheaper than a training step.
//!
//! Everything random is a function of the seed only: the epoch order comes from
//! [`stream_rng`]`(seed, "shuffle", epoch)` and each sample's generator is
//! [`sample_rng`]`(seed, epoch, dataset_index)`. Batches are therefore identical whatever the
//! thread count and prefetch depth, and a loader started at `(start_epoch, start_step)` yields
//! exactly the batches an uninterrupted loader yields from that point on.

use crate::augment::below;
use crate::rng::{SampleRng, sample_rng, stream_rng};
use crate::{DataError, Image, ImageSource};
use rayon::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// One batch of samples, in the epoch's order.
#[derive(Debug)]
pub struct Batch<S> {
    /// The epoch the batch belongs to.
    pub epoch: u64,
    /// Position of the batch in its epoch (0-based).
    pub step_in_epoch: usize,
    /// Dataset index of each sample (with `skip_errors`, the index actually used).
    pub indices: Vec<usize>,
    /// The samples built by the loader's `make`, in the order of `indices`.
    pub samples: Vec<S>,
    /// The label of each sample, if the source is labelled.
    pub labels: Vec<Option<u32>>,
}

/// How a [`Loader`] walks the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Samples per batch (must be positive).
    pub batch_size: usize,
    /// Seed of the epoch orders and of every sample's generator.
    pub seed: u64,
    /// Shuffle each epoch (a fresh permutation per epoch); otherwise dataset order.
    pub shuffle: bool,
    /// With `shuffle`, 0 draws each epoch's order as one permutation of all samples; N > 0
    /// draws it as WebDataset streams tar shards: the source's blocks (its shards,
    /// [`ImageSource::blocks`]) in a random order, their samples in file order through a
    /// shuffle buffer of N ([`streaming_order`]), so that reads move through a few shards at
    /// a time.
    pub shuffle_buffer: usize,
    /// Drop the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Number of finished batches queued ahead of the consumer (0 = hand each batch over as
    /// soon as it is done, one in the making).
    pub prefetch: usize,
    /// The epoch to start at.
    pub start_epoch: u64,
    /// The batch within `start_epoch` to start at (resume point).
    pub start_step: usize,
    /// Stop before this epoch (an absolute epoch number, so a resumed loader stops where the
    /// uninterrupted one would); `None` runs forever.
    pub epochs: Option<u64>,
    /// Instead of failing the batch, replace a sample whose decoding fails by the next dataset
    /// index (wrapping around) that decodes, with a `tracing` warning; see [`Loader::skipped`].
    pub skip_errors: bool,
    /// Worker threads: `None` uses rayon's global pool, `Some(n)` a dedicated pool of `n`.
    pub threads: Option<usize>,
    /// The part of every batch this loader yields, when several processes train together.
    pub shard: Shard,
}

/// One of `count` loaders that share the batches: the epoch order is cut into global batches
/// of `count × batch_size` and loader `index` yields the `index`-th slice of `batch_size` of
/// each, so that the loaders together see every sample of an epoch once and their slices, put
/// end to end, are the global batch one loader of `count × batch_size` would yield (PyTorch's
/// `DistributedSampler` deals the samples round-robin instead; slices keep that equality).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This loader's slice, `0 ..= count − 1`.
    pub index: usize,
    /// The number of loaders sharing the batches (at least 1).
    pub count: usize,
}

impl Shard {
    /// The whole of every batch.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };
}

impl Default for LoaderConfig {
    /// Batch size 256, seed 0, shuffled, last partial batch dropped, 4 batches prefetched,
    /// from the start, forever, errors fatal, rayon's global pool, the whole batch.
    fn default() -> Self {
        LoaderConfig {
            batch_size: 256,
            seed: 0,
            shuffle: true,
            shuffle_buffer: 0,
            drop_last: true,
            prefetch: 4,
            start_epoch: 0,
            start_step: 0,
            epochs: None,
            skip_errors: false,
            threads: None,
            shard: Shard::WHOLE,
        }
    }
}

/// Number of batches in an epoch of `len` samples: `len / batch_size`, plus one for a partial
/// batch unless `drop_last`. Zero when `batch_size` is zero.
pub fn steps_per_epoch(len: usize, batch_size: usize, drop_last: bool) -> usize {
    if batch_size == 0 {
        0
    } else if drop_last {
        len / batch_size
    } else {
        len.div_ceil(batch_size)
    }
}

/// The order of epoch `epoch`'s samples: `0..len`, or when `shuffle` a Fisher–Yates
/// permutation driven by [`stream_rng`]`(seed, "shuffle", epoch)` (for `i` from `len − 1` down
/// to 1, swap `i` with a uniform `j ≤ i`).
pub fn epoch_order(len: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        let mut rng = stream_rng(seed, "shuffle", epoch);
        for i in (1..len).rev() {
            order.swap(i, below(&mut rng, i + 1));
        }
    }
    order
}

/// The order of epoch `epoch` read as a stream (WebDataset's `shuffle` stage): the blocks of
/// consecutive indices (`blocks[k]` indices each; tar shards) in a Fisher–Yates permutation,
/// each block's indices in order, passed through a buffer of `buffer` indices: once the
/// buffer is full, each arriving index replaces one drawn uniformly from it, which leaves;
/// at the end the rest leave in random order. Driven by
/// [`stream_rng`]`(seed, "shuffle", epoch)`. An index leaves at most `buffer` places after
/// the stream reached it, so the reads of a window of `buffer` samples touch few blocks.
pub fn streaming_order(blocks: &[usize], seed: u64, epoch: u64, buffer: usize) -> Vec<usize> {
    let mut rng = stream_rng(seed, "shuffle", epoch);
    let mut starts = Vec::with_capacity(blocks.len());
    let mut total = 0;
    for &size in blocks {
        starts.push(total);
        total += size;
    }
    let mut shuffled: Vec<usize> = (0..blocks.len()).collect();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, below(&mut rng, i + 1));
    }
    let buffer = buffer.max(1);
    let mut pool = Vec::with_capacity(buffer);
    let mut order = Vec::with_capacity(total);
    for block in shuffled {
        for index in starts[block]..starts[block] + blocks[block] {
            if pool.len() == buffer {
                order.push(pool.swap_remove(below(&mut rng, buffer)));
            }
            pool.push(index);
        }
    }
    while !pool.is_empty() {
        order.push(pool.swap_remove(below(&mut rng, pool.len())));
    }
    order
}

/// An iterator over batches produced by a background thread; see [`spawn`].
///
/// It yields `Ok` batches in order until the configured epochs are done. A sample that fails
/// to decode (without `skip_errors`) yields one `Err` naming the file, after which the loader
/// ends. Dropping the loader stops and joins the background thread promptly: at most the
/// samples already being built are finished.
pub struct Loader<S: Send + 'static> {
    receiver: Option<Receiver<Result<Batch<S>, DataError>>>,
    stop: Arc<AtomicBool>,
    skipped: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
    steps_per_epoch: usize,
}

impl<S: Send + 'static> Loader<S> {
    /// Batches per epoch under this loader's configuration.
    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    /// How many samples have been replaced so far because they failed to decode
    /// (`skip_errors`).
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Stops the background thread and waits for it.
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver makes a blocked `send` fail, so the thread wakes up.
        self.receiver = None;
        if let Some(handle) = self.handle.take() {
            // A panic in `make` is reported by `next`; here it is only collected.
            let _ = handle.join();
        }
    }
}

impl<S: Send + 'static> Iterator for Loader<S> {
    type Item = Result<Batch<S>, DataError>;

    /// The next batch, waiting for it if it is not ready. A panic in the background thread
    /// (e.g. in `make`) is re-raised here.
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.receiver.as_ref()?.recv().ok();
        if item.is_none() {
            self.receiver = None;
            if let Some(handle) = self.handle.take()
                && let Err(panic) = handle.join()
            {
                std::panic::resume_unwind(panic);
            }
        }
        item
    }
}

impl<S: Send + 'static> Drop for Loader<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl<S: Send + 'static> std::fmt::Debug for Loader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("steps_per_epoch", &self.steps_per_epoch)
            .field("skipped", &self.skipped())
            .field("running", &self.handle.is_some())
            .finish()
    }
}

/// Starts a loader over `source` that builds each sample with
/// `make(image, &mut sample_rng(seed, epoch, index), index)`.
///
/// The batches of each epoch follow [`epoch_order`], cut into [`steps_per_epoch`] batches
/// (of `batch_size × shard.count` images, this loader's slice of each as [`Shard`] says),
/// starting at `(config.start_epoch, config.start_step)` and ending before `config.epochs`.
/// Samples of a batch are built in parallel (order preserved) on rayon's global pool or on a
/// dedicated pool of `config.threads` threads. An invalid configuration (zero batch size, a
/// pool that cannot be created) yields a single `Err`. An empty source, or one smaller than a
/// batch with `drop_last`, yields nothing.
pub fn spawn<S, F>(source: Arc<dyn ImageSource>, config: LoaderConfig, make: F) -> Loader<S>
where
    S: Send + 'static,
    F: Fn(Image, &mut SampleRng, usize) -> S + Send + Sync + 'static,
{
    let global = config.batch_size * config.shard.count.max(1);
    let steps = steps_per_epoch(source.len(), global, config.drop_last);
    let (sender, receiver) = sync_channel(config.prefetch);
    let stop = Arc::new(AtomicBool::new(false));
    let skipped = Arc::new(AtomicUsize::new(0));
    let worker = Worker {
        source,
        config,
        make,
        steps,
        stop: stop.clone(),
        skipped: skipped.clone(),
        sender,
    };
    let handle = std::thread::Builder::new()
        .name("pretext-loader".into())
        .spawn(move || worker.run());
    let handle = match handle {
        Ok(h) => Some(h),
        Err(e) => {
            // No thread: hand the error over through a channel of our own.
            let (tx, rx) = sync_channel(1);
            let _ = tx.send(Err(DataError::Spec(format!(
                "cannot start the data loader thread: {e}"
            ))));
            return Loader {
                receiver: Some(rx),
                stop,
                skipped,
                handle: None,
                steps_per_epoch: steps,
            };
        }
    };
    Loader {
        receiver: Some(receiver),
        stop,
        skipped,
        handle,
        steps_per_epoch: steps,
    }
}

/// The background side of a [`Loader`].
struct Worker<S, F> {
    source: Arc<dyn ImageSource>,
    config: LoaderConfig,
    make: F,
    steps: usize,
    stop: Arc<AtomicBool>,
    skipped: Arc<AtomicUsize>,
    sender: SyncSender<Result<Batch<S>, DataError>>,
}

/// One sample built: (dataset index used, label, sample).
type Built<S> = (usize, Option<u32>, S);

impl<S, F> Worker<S, F>
where
    S: Send + 'static,
    F: Fn(Image, &mut SampleRng, usize) -> S + Send + Sync + 'static,
{
    fn run(self) {
        if self.config.batch_size == 0 {
            let _ = self.sender.send(Err(DataError::Spec(
                "loader batch_size must be positive".into(),
            )));
            return;
        }
        match self.config.threads {
            None => self.walk(None),
            Some(n) => match rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .thread_name(|i| format!("pretext-loader-{i}"))
                .build()
            {
                Ok(pool) => self.walk(Some(&pool)),
                Err(e) => {
                    let _ = self.sender.send(Err(DataError::Spec(format!(
                        "cannot start {n} data loader threads: {e}"
                    ))));
                }
            },
        }
    }

    /// Walks the epochs and sends each batch; returns when done, on error, or when stopped.
    fn walk(&self, pool: Option<&rayon::ThreadPool>) {
        if self.steps == 0 {
            return;
        }
        let len = self.source.len();
        let bs = self.config.batch_size;
        let Shard { index, count } = self.config.shard;
        let mut epoch = self.config.start_epoch;
        let mut first_step = self.config.start_step;
        while self.config.epochs.is_none_or(|end| epoch < end) {
            let order = match (self.config.shuffle, self.config.shuffle_buffer) {
                (true, buffer) if buffer > 0 => {
                    let blocks = self.source.blocks().unwrap_or_else(|| vec![1; len]);
                    streaming_order(&blocks, self.config.seed, epoch, buffer)
                }
                (shuffle, _) => epoch_order(len, self.config.seed, epoch, shuffle),
            };
            for step in first_step..self.steps {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let start = ((step * count + index) * bs).min(len);
                let indices = &order[start..(start + bs).min(len)];
                let build = || self.build(epoch, step, indices);
                let batch = match pool {
                    Some(p) => p.install(build),
                    None => build(),
                };
                let failed = batch.is_err();
                if !self.send(batch) || failed {
                    return;
                }
            }
            first_step = 0;
            epoch += 1;
        }
    }

    /// Sends one item, blocking while the queue is full; false when the consumer is gone
    /// (dropping the [`Loader`] drops the receiver, which wakes a blocked send).
    fn send(&self, item: Result<Batch<S>, DataError>) -> bool {
        self.sender.send(item).is_ok()
    }

    /// Builds one batch in parallel, preserving order.
    fn build(&self, epoch: u64, step: usize, indices: &[usize]) -> Result<Batch<S>, DataError> {
        let built: Vec<Result<Option<Built<S>>, DataError>> = indices
            .par_iter()
            .map(|&index| self.sample(epoch, index))
            .collect();
        let mut batch = Batch {
            epoch,
            step_in_epoch: step,
            indices: Vec::with_capacity(indices.len()),
            samples: Vec::with_capacity(indices.len()),
            labels: Vec::with_capacity(indices.len()),
        };
        for b in built {
            match b? {
                Some((index, label, sample)) => {
                    batch.indices.push(index);
                    batch.labels.push(label);
                    batch.samples.push(sample);
                }
                // Stopped mid-batch: the batch will never be sent.
                None => return Err(DataError::Spec("data loader stopped".into())),
            }
        }
        Ok(batch)
    }

    /// Decodes and builds one sample; `Ok(None)` when the loader was stopped meanwhile.
    fn sample(&self, epoch: u64, index: usize) -> Result<Option<Built<S>>, DataError> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let (used, image) = match self.source.get(index) {
            Ok(image) => (index, image),
            Err(e) if self.config.skip_errors => self.replacement(index, e)?,
            Err(e) => return Err(e),
        };
        let mut rng = sample_rng(self.config.seed, epoch, used as u64);
        let label = self.source.label(used);
        Ok(Some((used, label, (self.make)(image, &mut rng, used))))
    }

    /// With `skip_errors`: the first index after `index` (wrapping around) that decodes.
    fn replacement(&self, index: usize, error: DataError) -> Result<(usize, Image), DataError> {
        let len = self.source.len();
        self.skipped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("skipping undecodable sample {index}: {error}");
        for k in 1..len {
            let candidate = (index + k) % len;
            if let Ok(image) = self.source.get(candidate) {
                return Ok((candidate, image));
            }
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use std::time::{Duration, Instant};

    /// `len` 1×1 gray images whose value is their index; labels `index % 3`; the indices in
    /// `broken` fail to decode; every decode sleeps `delay`.
    struct Mem {
        len: usize,
        broken: Vec<usize>,
        delay: Duration,
    }

    impl Mem {
        fn source(len: usize) -> Arc<dyn ImageSource> {
            Arc::new(Mem {
                len,
                broken: vec![],
                delay: Duration::ZERO,
            })
        }
    }

    impl ImageSource for Mem {
        fn len(&self) -> usize {
            self.len
        }
        fn get(&self, index: usize) -> Result<Image, DataError> {
            std::thread::sleep(self.delay);
            if self.broken.contains(&index) {
                return Err(DataError::format(
                    format!("mem/{index}.png"),
                    "corrupt image",
                ));
            }
            Ok(Image::filled(1, 1, 1, index as f32))
        }
        fn label(&self, index: usize) -> Option<u32> {
            Some((index % 3) as u32)
        }
        fn classes(&self) -> Option<&[String]> {
            None
        }
        fn channels(&self) -> usize {
            1
        }
        fn origin(&self) -> String {
            "memory".into()
        }
    }

    /// A sample: (decoded value, first draw of its generator, index passed to `make`).
    type Sample = (usize, u64, usize);

    fn make(image: Image, rng: &mut SampleRng, index: usize) -> Sample {
        (image.data[0] as usize, rng.random(), index)
    }

    fn config(batch_size: usize, epochs: u64) -> LoaderConfig {
        LoaderConfig {
            batch_size,
            seed: 42,
            drop_last: false,
            prefetch: 2,
            epochs: Some(epochs),
            ..LoaderConfig::default()
        }
    }

    /// (epoch, step, indices, samples, labels) of every batch, failing on errors.
    type Flat = Vec<(u64, usize, Vec<usize>, Vec<Sample>, Vec<Option<u32>>)>;

    fn collect(source: Arc<dyn ImageSource>, config: LoaderConfig) -> Flat {
        spawn(source, config, make)
            .map(|b| {
                let b = b.unwrap();
                (b.epoch, b.step_in_epoch, b.indices, b.samples, b.labels)
            })
            .collect()
    }

    #[test]
    fn steps_per_epoch_counts() {
        assert_eq!(steps_per_epoch(10, 4, false), 3);
        assert_eq!(steps_per_epoch(10, 4, true), 2);
        assert_eq!(steps_per_epoch(8, 4, false), 2);
        assert_eq!(steps_per_epoch(3, 4, true), 0);
        assert_eq!(steps_per_epoch(0, 4, false), 0);
        assert_eq!(steps_per_epoch(5, 0, false), 0);
    }

    /// The streaming order is a seeded permutation that keeps each sample within a buffer's
    /// reach of its place in the stream of shuffled shards, and a loader resumed in its middle
    /// yields what the uninterrupted one does.
    #[test]
    fn streaming_order_is_a_permutation_that_stays_near_its_shards() {
        let blocks = [30, 30, 30, 10];
        let order = streaming_order(&blocks, 7, 2, 8);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(order, streaming_order(&blocks, 7, 2, 8));
        assert_ne!(order, streaming_order(&blocks, 7, 3, 8));
        // The shards in their shuffled order, each in file order (buffer 1: no mixing); the
        // same shard order for any buffer.
        let plain = streaming_order(&blocks, 7, 2, 1);
        assert!(
            plain.windows(2).filter(|w| w[1] != w[0] + 1).count() <= 3,
            "{plain:?}"
        );
        // No sample is taken before the stream reaches it, nor more than the buffer ahead:
        // place p holds a sample at most 7 places further in the stream, so reading a window
        // of the order reads a window of the shards.
        let mut arrival = vec![0; 100];
        for (position, &index) in plain.iter().enumerate() {
            arrival[index] = position;
        }
        for (p, &index) in order.iter().enumerate() {
            assert!(arrival[index] < p + 8, "place {p}: sample {index}");
        }

        let config = LoaderConfig {
            batch_size: 10,
            shuffle_buffer: 8,
            epochs: Some(2),
            ..LoaderConfig::default()
        };
        let all = collect(Mem::source(100), config.clone());
        let resumed = collect(
            Mem::source(100),
            LoaderConfig {
                start_step: 4,
                ..config
            },
        );
        assert_eq!(all.len(), 20);
        assert_eq!(&all[4..], &resumed[..]);
        assert_ne!(all[0].2, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn epoch_order_is_a_reproducible_permutation() {
        let a = epoch_order(100, 7, 3, true);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 7, 3, true));
        assert_ne!(a, epoch_order(100, 7, 4, true));
        assert_ne!(a, epoch_order(100, 8, 3, true));
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        assert_eq!(epoch_order(5, 7, 3, false), vec![0, 1, 2, 3, 4]);
        assert!(epoch_order(0, 7, 3, true).is_empty());
    }

    #[test]
    fn batches_follow_the_epoch_order_and_sample_generators() {
        let run = collect(Mem::source(10), config(4, 3));
        assert_eq!(run.len(), 9);
        for epoch in 0..3u64 {
            let batches: Vec<_> = run.iter().filter(|b| b.0 == epoch).collect();
            assert_eq!(
                batches.iter().map(|b| b.1).collect::<Vec<_>>(),
                vec![0, 1, 2]
            );
            assert_eq!(
                batches.iter().map(|b| b.2.len()).collect::<Vec<_>>(),
                vec![4, 4, 2]
            );
            let order: Vec<usize> = batches.iter().flat_map(|b| b.2.clone()).collect();
            assert_eq!(order, epoch_order(10, 42, epoch, true));
            for b in &batches {
                for ((&i, s), l) in b.2.iter().zip(&b.3).zip(&b.4) {
                    let draw: u64 = sample_rng(42, epoch, i as u64).random();
                    assert_eq!(*s, (i, draw, i));
                    assert_eq!(*l, Some((i % 3) as u32));
                }
            }
        }
        // drop_last drops the partial batch; no shuffle keeps dataset order.
        let cfg = LoaderConfig {
            drop_last: true,
            shuffle: false,
            ..config(4, 1)
        };
        let run = collect(Mem::source(10), cfg);
        assert_eq!(
            run.iter().map(|b| b.2.clone()).collect::<Vec<_>>(),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
    }

    /// Shards' slices, put end to end, are the batches of one loader of the global batch
    /// size, with the same samples; together the shards see each image once per epoch.
    #[test]
    fn shards_slice_the_global_batches() {
        let whole = collect(
            Mem::source(23),
            LoaderConfig {
                drop_last: true,
                ..config(6, 2)
            },
        );
        let shards: Vec<Flat> = (0..3)
            .map(|index| {
                let cfg = LoaderConfig {
                    drop_last: true,
                    shard: Shard { index, count: 3 },
                    ..config(2, 2)
                };
                collect(Mem::source(23), cfg)
            })
            .collect();
        assert_eq!(whole.len(), 2 * 3);
        for (k, batch) in whole.iter().enumerate() {
            let joined: Vec<_> = shards.iter().flat_map(|s| s[k].3.clone()).collect();
            assert_eq!(joined, batch.3);
            assert!(
                shards
                    .iter()
                    .all(|s| (s[k].0, s[k].1) == (batch.0, batch.1))
            );
        }
        let mut seen: Vec<usize> = shards
            .iter()
            .flat_map(|s| s.iter().filter(|b| b.0 == 0).flat_map(|b| b.2.clone()))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 18, "3 global batches of 6 distinct images");
    }

    #[test]
    fn resume_equals_the_tail_of_a_full_run() {
        let full = collect(Mem::source(10), config(3, 3));
        assert_eq!(full.len(), 12);
        for epoch in 0..3u64 {
            for step in 0..=4usize {
                let resumed = collect(
                    Mem::source(10),
                    LoaderConfig {
                        start_epoch: epoch,
                        start_step: step,
                        ..config(3, 3)
                    },
                );
                // Steps past the end of an epoch continue with the next epoch.
                let skip = (epoch as usize) * 4 + step.min(4);
                assert_eq!(
                    resumed,
                    full[skip..].to_vec(),
                    "resume at ({epoch}, {step})"
                );
            }
        }
    }

    #[test]
    fn prefetch_and_thread_counts_do_not_change_batches() {
        let reference = collect(Mem::source(37), config(5, 2));
        for prefetch in [0, 1, 16] {
            for threads in [None, Some(1), Some(3)] {
                let cfg = LoaderConfig {
                    prefetch,
                    threads,
                    ..config(5, 2)
                };
                assert_eq!(
                    collect(Mem::source(37), cfg),
                    reference,
                    "{prefetch} {threads:?}"
                );
            }
        }
    }

    #[test]
    fn dropping_early_does_not_hang() {
        let slow: Arc<dyn ImageSource> = Arc::new(Mem {
            len: 1000,
            broken: vec![],
            delay: Duration::from_millis(2),
        });
        let t = Instant::now();
        let mut loader = spawn(
            slow.clone(),
            LoaderConfig {
                batch_size: 8,
                prefetch: 2,
                threads: Some(2),
                ..LoaderConfig::default()
            },
            make,
        );
        assert!(loader.next().unwrap().is_ok());
        drop(loader);
        // Never consumed at all, forever, queue full.
        let loader = spawn(
            slow,
            LoaderConfig {
                batch_size: 2,
                prefetch: 1,
                ..LoaderConfig::default()
            },
            make,
        );
        std::thread::sleep(Duration::from_millis(50));
        drop(loader);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn decode_errors_name_the_file_and_end_the_loader() {
        let source: Arc<dyn ImageSource> = Arc::new(Mem {
            len: 10,
            broken: vec![5],
            delay: Duration::ZERO,
        });
        let cfg = LoaderConfig {
            shuffle: false,
            ..config(4, 2)
        };
        let items: Vec<_> = spawn(source, cfg, make).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        let message = items[1].as_ref().unwrap_err().to_string();
        assert!(message.contains("mem/5.png"), "{message}");
    }

    #[test]
    fn skip_errors_replaces_with_the_next_decodable_sample() {
        let source: Arc<dyn ImageSource> = Arc::new(Mem {
            len: 10,
            broken: vec![5, 6, 9],
            delay: Duration::ZERO,
        });
        let cfg = LoaderConfig {
            shuffle: false,
            skip_errors: true,
            ..config(4, 1)
        };
        let mut loader = spawn(source, cfg, make);
        let batches: Vec<_> = loader.by_ref().map(|b| b.unwrap()).collect();
        assert_eq!(batches[1].indices, vec![4, 7, 7, 7]);
        assert_eq!(batches[2].indices, vec![8, 0]);
        let draw: u64 = sample_rng(42, 0, 7).random();
        assert_eq!(batches[1].samples[1], (7, draw, 7));
        assert_eq!(batches[2].labels, vec![Some(2), Some(0)]);
        assert_eq!(loader.skipped(), 3);
        // Nothing decodes: the error comes through.
        let dead: Arc<dyn ImageSource> = Arc::new(Mem {
            len: 3,
            broken: vec![0, 1, 2],
            delay: Duration::ZERO,
        });
        let cfg = LoaderConfig {
            skip_errors: true,
            ..config(2, 1)
        };
        let first = spawn(dead, cfg, make).next().unwrap();
        assert!(first.is_err());
    }

    #[test]
    fn degenerate_configurations() {
        let mut zero = spawn(Mem::source(10), config(0, 1), make);
        assert!(zero.next().unwrap().is_err());
        assert!(zero.next().is_none());
        // Empty sources end immediately even when running forever.
        let forever = LoaderConfig {
            epochs: None,
            ..config(4, 1)
        };
        assert_eq!(spawn(Mem::source(0), forever.clone(), make).count(), 0);
        let small = LoaderConfig {
            drop_last: true,
            ..forever
        };
        assert_eq!(spawn(Mem::source(3), small, make).count(), 0);
        let loader = spawn(Mem::source(10), config(4, 1), make);
        assert_eq!(loader.steps_per_epoch(), 3);
    }

    #[test]
    #[should_panic(expected = "make failed")]
    fn a_panic_in_make_reaches_the_consumer() {
        let loader = spawn(Mem::source(10), config(4, 1), |_, _: &mut SampleRng, i| {
            if i == 3 {
                panic!("make failed");
            }
            i
        });
        for _ in loader {}
    }
}
