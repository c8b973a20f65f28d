//! Per-channel normalisation, torchvision's `Normalize`.

use crate::Image;

/// ImageNet channel means (RGB), as used by torchvision models and the BYOL/SimCLR code.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `(v − mean[c]) / std[c]` for every value of channel `c`: torchvision's `Normalize(mean,
/// std)`, producing the values the network consumes. A slice of one value applies to every
/// channel; an empty slice means 0 (mean) or 1 (std). Lengths that are neither 1 nor the channel
/// count are used cyclically (`[c % len]`) — [`ViewConfig::validate`](super::ViewConfig::validate)
/// rejects them up front.
pub fn normalize(mut image: Image, mean: &[f32], std: &[f32]) -> Image {
    if mean.is_empty() && std.is_empty() {
        return image;
    }
    let n = image.width * image.height;
    if n == 0 {
        return image;
    }
    for (c, plane) in image.data.chunks_exact_mut(n).enumerate() {
        let m = if mean.is_empty() {
            0.0
        } else {
            mean[c % mean.len()]
        };
        let s = if std.is_empty() {
            1.0
        } else {
            std[c % std.len()]
        };
        for v in plane {
            *v = (*v - m) / s;
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_and_broadcast() {
        let a = Image {
            channels: 2,
            height: 1,
            width: 2,
            data: vec![0.0, 1.0, 0.5, 0.25],
        };
        let b = normalize(a.clone(), &[0.5, 0.25], &[0.5, 0.25]);
        assert_eq!(b.data, vec![-1.0, 1.0, 1.0, 0.0]);
        let c = normalize(a.clone(), &[0.5], &[0.5]);
        assert_eq!(c.data, vec![-1.0, 1.0, 0.0, -0.5]);
        assert_eq!(normalize(a.clone(), &[], &[]), a);
    }
}
