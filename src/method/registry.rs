//! Method names → method types. Adding a method touches its own file and one line here.

use super::Method;
use super::barlow_twins::BarlowTwins;
use super::byol::Byol;
use super::colorization::Colorization;
use super::dino::Dino;
use super::inpainting::Inpainting;
use super::jigsaw::Jigsaw;
use super::moco::Moco;
use super::relative_patch::RelativePatch;
use super::rotation::Rotation;
use super::simclr::Simclr;
use super::simsiam::Simsiam;
use super::supervised::Supervised;
use super::vicreg::Vicreg;
use anyhow::bail;

/// Names of all registered methods.
pub const NAMES: &[&str] = &[
    "rotation",
    "relative-patch",
    "jigsaw",
    "colorization",
    "inpainting",
    "byol",
    "simclr",
    "simsiam",
    "barlow-twins",
    "vicreg",
    "moco",
    "dino",
    "supervised",
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
        "byol" => job.run::<Byol>(),
        "simclr" => job.run::<Simclr>(),
        "simsiam" => job.run::<Simsiam>(),
        "barlow-twins" => job.run::<BarlowTwins>(),
        "vicreg" => job.run::<Vicreg>(),
        "moco" => job.run::<Moco>(),
        "dino" => job.run::<Dino>(),
        "supervised" => job.run::<Supervised>(),
        _ => bail!(
            "unknown method `{name}`; known methods: {}",
            NAMES.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;

    impl MethodJob for Name {
        type Output = &'static str;
        fn run<M: Method>(self) -> &'static str {
            std::any::type_name::<M>()
        }
    }

    #[test]
    fn every_listed_name_dispatches_to_its_own_method() {
        let types: Vec<_> = NAMES.iter().map(|n| dispatch(n, Name).unwrap()).collect();
        let mut unique = types.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), NAMES.len(), "{types:?}");
        let err = dispatch("byol2", Name).unwrap_err().to_string();
        assert!(err.contains("byol2") && err.contains("jigsaw"), "{err}");
    }
}
