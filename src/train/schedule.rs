//! Learning-rate schedule: linear warm-up, then cosine decay (Loshchilov & Hutter 2017,
//! without restarts), evaluated per optimiser step.

/// Linear warm-up over `warmup` steps to `base`, then half-cosine decay to `min` at `total`.
#[derive(Clone, Copy, Debug)]
pub struct WarmupCosine {
    /// Peak learning rate.
    pub base: f64,
    /// Final learning rate.
    pub min: f64,
    /// Warm-up steps.
    pub warmup: u64,
    /// Total steps of the run.
    pub total: u64,
}

impl WarmupCosine {
    /// The learning rate of step `step` (0-based).
    ///
    /// Warm-up: `base · (step + 1) / warmup`. Decay: `min + (base − min) · ½ (1 + cos(π t))`
    /// with `t = (step − warmup) / (total − warmup)`.
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        self.min + (self.base - self.min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = WarmupCosine {
            base: 1.0,
            min: 0.0,
            warmup: 4,
            total: 14,
        };
        assert_eq!(s.at(0), 0.25);
        assert_eq!(s.at(3), 1.0);
        assert_eq!(s.at(4), 1.0);
        assert!((s.at(9) - 0.5).abs() < 1e-12); // halfway through the decay
        assert!(s.at(13) < 0.03 && s.at(13) > 0.0);
        let no_warmup = WarmupCosine { warmup: 0, ..s };
        assert_eq!(no_warmup.at(0), 1.0);
    }
}
