#![warn(missing_docs)]
//! # pretext
//!
//! Self-supervised pretraining of vision encoders from unlabeled images, and their transfer to
//! downstream tasks, on [burn](https://burn.dev).
//!
//! Data flows one way: *dataset* ([`pretext_data`]) → *augmentation* → *method*
//! ([`method`]) → *trainer* ([`train`]) → *checkpoint* ([`checkpoint`]) → *evaluation*
//! ([`eval`], [`finetune`]).

pub mod allocator;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod dataset;
pub mod decoder;
pub mod detect;
pub mod detection;
pub mod device;
pub mod distributed;
pub mod ema;
pub mod encoder;
pub mod eval;
pub mod export;
pub mod finetune;
pub mod head;
pub mod host;
pub mod input;
pub mod kernels;
pub mod method;
pub mod report;
pub mod segmentation;
pub mod tensorboard;
pub mod train;
