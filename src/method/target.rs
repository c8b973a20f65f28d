//! What BYOL, MoCo and DINO share: a target network ([`Target`]: a copy of the online encoder
//! and of one online head) that starts as a copy of the online network in `init_head` and
//! follows it by an exponential moving average after every optimiser step, at BYOL's cosine
//! rate from `tau_base` to `tau_end` ([`cosine_tau`]).

use super::{Network, Progress};
use crate::ema::{Target, cosine_tau};
use burn::module::Module;

/// A head holding a [`Target`] of the encoder and of its own part `Online`.
pub trait TargetHead: Module {
    /// The online part the target copies (a projector, DINO's student head).
    type Online: Module;

    /// The head with its target replaced by `f(target, online part)`.
    fn map_target(
        self,
        f: impl FnOnce(Target<Self::Online>, &Self::Online) -> Target<Self::Online>,
    ) -> Self;
}

/// One EMA step of `net`'s target toward its online weights, at BYOL's cosine rate from
/// `tau_base` to `tau_end` for the step `progress` is at: a method's `after_step`.
pub fn follow<H: TargetHead>(
    net: Network<H>,
    tau_base: f64,
    tau_end: f64,
    progress: Progress,
) -> Network<H> {
    let tau = cosine_tau(tau_base, tau_end, progress.step, progress.total_steps);
    let Network { encoder, head } = net;
    let head = head.map_target(|target, online| target.follow(&encoder, online, tau));
    Network { encoder, head }
}
