//! Object detection on a pretrained encoder: the pieces of a two-stage detector — Faster
//! R-CNN (Ren et al. 2015) with a feature pyramid (Lin et al. 2017) — the transfer target
//! by which the lecture judges self-supervised features — and semantic segmentation
//! ([`segmentation`]).

pub mod anchors;
pub mod boxes;
pub mod detector;
pub mod pyramid;
pub mod roi_align;
pub mod segmentation;
