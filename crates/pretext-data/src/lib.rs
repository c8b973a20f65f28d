#![warn(missing_docs)]
//! Data side of pretext: image sources (datasets), downloads and CPU augmentations.
//!
//! The data flow of pretext is *dataset → augmentation → method → trainer → checkpoint →
//! evaluation*. This crate owns the first two steps and has no deep-learning dependency, so it
//! builds and tests in seconds. Every dataset format is read into one abstraction,
//! [`ImageSource`]: a random-access list of [`Image`]s with optional labels.

pub mod annotations;
pub mod atomic;
pub mod augment;
pub mod cifar;
pub mod download;
pub mod error;
pub mod folder;
pub mod grid;
pub mod idx;
pub mod image;
pub mod inspect;
pub mod lab;
pub mod label_fraction;
pub mod loader;
pub mod masks;
pub mod open;
pub mod patches;
pub mod permutations;
pub mod prepare;
pub mod rng;
pub mod scenes;
pub mod shards;
pub mod source;
pub mod stl10;
#[cfg(test)]
mod test_server;

pub use error::DataError;
pub use image::Image;
pub use source::{DataSpec, DatasetKind, ImageSource, Split, Target};
