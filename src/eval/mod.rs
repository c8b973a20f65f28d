//! Evaluation of frozen encoders: features computed once, then a linear probe or weighted
//! k-nearest-neighbours on them.

pub mod features;
pub mod knn;
pub mod linear;

pub use features::Features;
