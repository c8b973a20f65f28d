//! Training in several processes at once, on one machine or many, over MPI: `mpirun -np N
//! pretext pretrain …` or `srun pretext pretrain …` (Gropp et al., "Using MPI"; the MPI 3.1
//! standard's `MPI_Allreduce`, `MPI_Bcast`). The launcher starts the processes (*ranks*); MPI
//! tells each its rank and their number and carries the all-reduce of the gradients
//! ([`all_reduce_sum`]), the way Horovod runs data-parallel training.
//!
//! MPI comes with the `mpi` cargo feature (rsmpi, over the system's Open MPI or MPICH). A
//! build without it, or a process not started by an MPI launcher, is a world of one: every
//! function here is then a no-op, and the trainer runs as it always did. A build without the
//! feature that finds itself under `mpirun` stops with an error rather than letting each
//! copy train alone on the same directory.
//!
//! Threads: each rank runs its own thread pools (compute and data loading). Unless
//! `RAYON_NUM_THREADS` says otherwise, a rank that the launcher did not bind to a subset of
//! the cores takes its share of the machine's cores (cores ÷ ranks on this node), so that two
//! ranks on two cores do not run four threads.

use anyhow::{Result, bail};
use std::sync::OnceLock;

/// This process's place among the processes training together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranks {
    /// This process's rank, 0 ..= `size − 1`.
    pub rank: usize,
    /// The number of processes.
    pub size: usize,
}

impl Ranks {
    /// A world of one process.
    pub const ALONE: Ranks = Ranks { rank: 0, size: 1 };

    /// Whether this is rank 0, the one that writes checkpoints, metrics and pictures and
    /// prints.
    pub fn is_first(self) -> bool {
        self.rank == 0
    }
}

static RANKS: OnceLock<Ranks> = OnceLock::new();

/// The ranks of this process (a world of one before [`init`], or without MPI).
pub fn ranks() -> Ranks {
    RANKS.get().copied().unwrap_or(Ranks::ALONE)
}

/// Holds MPI open: made by [`init`] at the start of `main` and dropped at its end, which
/// shuts MPI down (`MPI_Finalize`), as the launcher requires of every rank.
pub struct Session {
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

/// The environment variables by which the common launchers tell a process how many ranks
/// there are: Open MPI's `mpirun`, MPICH/Intel MPI's Hydra and Slurm's PMI-2 (`PMI_SIZE`), and
/// the tasks of a Slurm job step (`srun`, with PMIx too, which itself sets only `PMIX_RANK`).
const LAUNCHER_SIZE: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"];

/// How many processes the launcher started, if one started this process.
fn launched_ranks() -> Option<usize> {
    LAUNCHER_SIZE
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
}

/// Joins the other ranks when an MPI launcher started this process (with the `mpi` feature),
/// and sets this rank's thread count. Call once, first thing in `main`.
///
/// # Errors
/// Under a launcher that started several processes, when this build has no MPI or MPI does
/// not start.
pub fn init() -> Result<Session> {
    let launched = launched_ranks().unwrap_or(1);
    if launched < 2 {
        return Ok(Session {
            #[cfg(feature = "mpi")]
            _universe: None,
        });
    }
    #[cfg(not(feature = "mpi"))]
    bail!(
        "started as one of {launched} MPI ranks, but this pretext was built without MPI; \
         build it with `cargo build --release --features mpi` (Open MPI or MPICH installed)"
    );
    #[cfg(feature = "mpi")]
    {
        use mpi::traits::Communicator;
        let Some((universe, _)) =
            mpi::initialize_with_threading(mpi::environment::Threading::Funneled)
        else {
            bail!("MPI was already initialised");
        };
        let world = universe.world();
        let ranks = Ranks {
            rank: world.rank() as usize,
            size: world.size() as usize,
        };
        let _ = RANKS.set(ranks);
        share_cores(ranks);
        Ok(Session {
            _universe: Some(universe),
        })
    }
}

/// Sets the global thread pool's size to this rank's share of the cores (see the module
/// documentation).
#[cfg(feature = "mpi")]
fn share_cores(ranks: Ranks) {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    let here = std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE")
        .or_else(|_| std::env::var("MPI_LOCALNRANKS"))
        .or_else(|_| std::env::var("SLURM_NTASKS_PER_NODE"))
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(ranks.size);
    // A rank the launcher bound to some cores already sees only those.
    let threads = match usable < online {
        true => usable,
        false => (usable / here.max(1)).max(1),
    };
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        tracing::warn!("cannot set rank {}'s threads to {threads}: {e}", ranks.rank);
    }
}

/// Sums `values` over all ranks, in place, every rank receiving the sum (`MPI_Allreduce`).
/// The gradients' reduction (`f32`) and synchronised batch norm's sums (`f64`); a no-op in a
/// world of one.
pub fn all_reduce_sum<T: Reducible>(values: &mut [T]) {
    #[cfg(feature = "mpi")]
    if ranks().size > 1 {
        use mpi::collective::SystemOperation;
        use mpi::traits::CommunicatorCollectives;
        let world = mpi::topology::SimpleCommunicator::world();
        let sent = values.to_vec();
        world.all_reduce_into(&sent[..], values, SystemOperation::sum());
    }
    #[cfg(not(feature = "mpi"))]
    let _ = values;
}

/// The numbers MPI sums here: `f32` and `f64`.
#[cfg(feature = "mpi")]
pub trait Reducible: Copy + mpi::datatype::Equivalence {}
/// The numbers MPI sums here: `f32` and `f64`.
#[cfg(not(feature = "mpi"))]
pub trait Reducible: Copy {}
impl Reducible for f32 {}
impl Reducible for f64 {}

/// Every rank's `values` put end to end in rank order, on every rank (`MPI_Allgatherv`; the
/// ranks may hold different counts); `values` itself in a world of one.
pub fn all_gather(values: &[f32]) -> Vec<f32> {
    #[cfg(feature = "mpi")]
    if ranks().size > 1 {
        use mpi::datatype::PartitionMut;
        use mpi::traits::CommunicatorCollectives;
        let world = mpi::topology::SimpleCommunicator::world();
        let mut counts = vec![0i32; ranks().size];
        world.all_gather_into(&(values.len() as i32), &mut counts[..]);
        let offsets: Vec<i32> = counts
            .iter()
            .scan(0, |start, &count| {
                let at = *start;
                *start += count;
                Some(at)
            })
            .collect();
        let total = counts.iter().map(|&c| c as usize).sum();
        let mut gathered = vec![0f32; total];
        let mut partition = PartitionMut::new(&mut gathered[..], &counts[..], &offsets[..]);
        world.all_gather_varcount_into(values, &mut partition);
        return gathered;
    }
    values.to_vec()
}

static SYNC_BATCH_NORM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether batch norm takes its statistics over every rank's batch now (`train.sync_bn`,
/// inside a [`SyncBatchNorm`] scope, with several ranks): PyTorch's `SyncBatchNorm`.
pub fn syncs_batch_norm() -> bool {
    SYNC_BATCH_NORM.load(std::sync::atomic::Ordering::Relaxed)
}

/// While alive, batch norm in training mode synchronises its statistics over the ranks (in a
/// world of several); every rank must run the same layers in the same order meanwhile.
pub struct SyncBatchNorm(());

impl SyncBatchNorm {
    /// Synchronised batch norm from now until the guard drops.
    pub fn during() -> SyncBatchNorm {
        SYNC_BATCH_NORM.store(ranks().size > 1, std::sync::atomic::Ordering::Relaxed);
        SyncBatchNorm(())
    }
}

impl Drop for SyncBatchNorm {
    fn drop(&mut self) {
        SYNC_BATCH_NORM.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The sum of `value` over all ranks, on every rank (`MPI_Allreduce` of one `f64`, the
/// step's loss); `value` itself in a world of one.
pub fn sum(value: f64) -> f64 {
    #[cfg(feature = "mpi")]
    if ranks().size > 1 {
        use mpi::collective::SystemOperation;
        use mpi::traits::CommunicatorCollectives;
        let world = mpi::topology::SimpleCommunicator::world();
        let mut total = 0.0;
        world.all_reduce_into(&value, &mut total, SystemOperation::sum());
        return total;
    }
    value
}

/// Rank 0's `value`, on every rank (`MPI_Bcast`); `value` itself in a world of one.
pub fn broadcast(value: u64) -> u64 {
    #[cfg(feature = "mpi")]
    if ranks().size > 1 {
        use mpi::traits::{Communicator, Root};
        let world = mpi::topology::SimpleCommunicator::world();
        let mut value = value;
        world.process_at_rank(0).broadcast_into(&mut value);
        return value;
    }
    value
}

/// Waits until every rank has come here (`MPI_Barrier`).
pub fn barrier() {
    #[cfg(feature = "mpi")]
    if ranks().size > 1 {
        use mpi::traits::CommunicatorCollectives;
        mpi::topology::SimpleCommunicator::world().barrier();
    }
}

/// Stops every rank (`MPI_Abort`) after this one failed, so that the others do not wait
/// forever in the next all-reduce; returns in a world of one.
pub fn abort_others(code: i32) {
    #[cfg(feature = "mpi")]
    if ranks().size > 1 {
        use mpi::traits::Communicator;
        mpi::topology::SimpleCommunicator::world().abort(code);
    }
    #[cfg(not(feature = "mpi"))]
    let _ = code;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a launcher, a world of one in which the collectives change nothing.
    #[test]
    fn alone_the_collectives_are_the_identity() {
        assert_eq!(ranks(), Ranks::ALONE);
        assert!(ranks().is_first());
        let mut values = [1.5f32, -2.0];
        all_reduce_sum(&mut values);
        assert_eq!(values, [1.5, -2.0]);
        assert_eq!(all_gather(&values), values);
        let guard = SyncBatchNorm::during();
        assert!(!syncs_batch_norm(), "nothing to synchronise with alone");
        drop(guard);
        assert_eq!(broadcast(7), 7);
        assert_eq!(sum(0.1), 0.1);
        barrier();
    }
}
