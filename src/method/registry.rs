//! Method names → method types. Adding a method touches its own file and one line here.

use super::Method;
use super::colorization::Colorization;
use super::inpainting::Inpainting;
use super::jigsaw::Jigsaw;
use super::relative_patch::RelativePatch;
use super::rotation::Rotation;
use anyhow::bail;

/// Names of all registered methods.
pub const NAMES: &[&str] = &[
    "rotation",
    "relative-patch",
    "jigsaw",
    "colorization",
    "inpainting",
];

/// Work to do with a method whose type is only known at run time.
pub trait MethodJob {
    /// What the job returns.
    type Output;
    /// Runs the job for method type `M`.
    fn run<M: Method>(self) -> Self::Output;
}

/// Runs `job` with the method registered as `name`.
pub fn dispatch<J: MethodJob>(name: &str, job: J) -> anyhow::Result<J::Output> {
    Ok(match name {
        "rotation" => job.run::<Rotation>(),
        "relative-patch" => job.run::<RelativePatch>(),
        "jigsaw" => job.run::<Jigsaw>(),
        "colorization" => job.run::<Colorization>(),
        "inpainting" => job.run::<Inpainting>(),
        _ => bail!(
            "unknown method `{name}`; known methods: {}",
            NAMES.join(", ")
        ),
    })
}
