//! Evaluation of frozen encoders: features computed once, then a linear probe, weighted
//! k-nearest-neighbours or retrieval on them; and the average precision of detections.

pub mod box_ap;
pub mod features;
pub mod frozen;
pub mod knn;
pub mod linear;
pub mod precise_bn;
pub mod record;
pub mod retrieval;

pub use features::Features;
