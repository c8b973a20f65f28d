//! GFLOP/s of pretext's matrix products on one thread, fp32 (gemm) and bf16 (pretext's
//! kernels: AMX tiles where the CPU has them and `PRETEXT_AMX` is not 0, else AVX512-BF16),
//! in the same process. `bench/matmul.sh` runs it; arguments: `M×N×K` shapes.
//!
//! ```text
//! cargo run --release --example matmul_rates -- 512x512x512 128x3136x1152
//! ```

use pretext::kernels::matmul::{MatRef, matmul};
use pretext::kernels::{Precision, set_precision};
use std::time::Instant;

fn main() {
    let shapes: Vec<[usize; 3]> = std::env::args()
        .skip(1)
        .map(|s| {
            let v: Vec<usize> = s.split('x').map(|d| d.parse().expect("M×N×K")).collect();
            [v[0], v[1], v[2]]
        })
        .collect();
    let bf16 = set_precision(Precision::Bf16) == Precision::Bf16;
    let unit = match (bf16, pretext::kernels::matmul::amx::available()) {
        (false, _) => "none (no AVX512-BF16)",
        (true, true) => "AMX-BF16",
        (true, false) => "AVX512-BF16",
    };
    println!("bf16 products on: {unit}");
    for [m, n, k] in shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53) % 103) as f32 / 50.0 - 1.0)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let mut rate = |precision| {
            let (lhs, rhs) = (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n));
            matmul(&mut c, lhs, rhs, false, precision);
            let reps = ((2e9 / flops) as usize).clamp(3, 1000);
            let started = Instant::now();
            for _ in 0..reps {
                matmul(&mut c, lhs, rhs, false, precision);
            }
            flops * reps as f64 / started.elapsed().as_secs_f64() / 1e9
        };
        let f32 = rate(Precision::F32);
        let line = match bf16 {
            true => {
                let b16 = rate(Precision::Bf16);
                format!("bf16 {b16:7.1} GFLOP/s  ({:.2}× fp32)", b16 / f32)
            }
            false => String::new(),
        };
        println!("{m}×{n}×{k}: fp32 {f32:7.1} GFLOP/s  {line}");
    }
}
