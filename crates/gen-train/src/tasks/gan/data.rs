//! Labelled images in `[-1, 1]`, batched for GAN training.

use crate::{Dataset, Error, Result};
use gen_data::mnist::{PixelRange, normalize_nchw};
use ndarray::{Array1, Array3, Array4};
use tch::{Device, Kind, Tensor};

/// A batch of images `[batch, c, h, w]` (float, in `[-1, 1]`) and their labels `[batch]`
/// (int64).
#[derive(Debug)]
pub struct ImageBatch {
    /// Images, float32 `[batch, c, h, w]`.
    pub images: Tensor,
    /// Class labels, int64 `[batch]`.
    pub labels: Tensor,
}

/// Images `[n, c, h, w]` in `[-1, 1]` with one label each, held as tensors on one device
/// (batches are gathered there with `index_select`).
#[derive(Debug)]
pub struct ImageData {
    images: Tensor,
    labels: Tensor,
    len: usize,
}

impl ImageData {
    /// Takes `images` `[n, c, h, w]` with every value in `[-1, 1]` and `labels` (`n` of them),
    /// and moves them to `device`. A value outside `[-1, 1]` (or NaN), or a count mismatch, is
    /// an [`Error::Config`] naming the field.
    pub fn new(images: Array4<f32>, labels: &[i64], device: Device) -> Result<Self> {
        let n = images.shape().first().copied().unwrap_or(0);
        if labels.len() != n {
            return Err(Error::config(
                "labels",
                format!("{} labels for {n} images", labels.len()),
            ));
        }
        if let Some((i, v)) = images
            .iter()
            .enumerate()
            .find(|(_, v)| !(-1.0..=1.0).contains(*v))
        {
            return Err(Error::config(
                "images",
                format!("value {v} at flat index {i} is outside [-1, 1]"),
            ));
        }
        let images = gen_core::array_to_tensor(&images)?.f_to_device(device)?;
        let labels = Tensor::f_from_slice(labels)?.f_to_device(device)?;
        Ok(ImageData {
            images,
            labels,
            len: n,
        })
    }

    /// `u8` images `(n, h, w)` (e.g. MNIST from [`gen_data::idx`]) as one-channel images in
    /// `[-1, 1]` (`x / 127.5 - 1`), with their labels.
    pub fn from_u8(images: &Array3<u8>, labels: &Array1<u8>, device: Device) -> Result<Self> {
        let labels: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
        Self::new(
            normalize_nchw(images, PixelRange::MinusOneOne),
            &labels,
            device,
        )
    }

    /// All images, `[n, c, h, w]`.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// All labels, `[n]`.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }
}

impl Dataset for ImageData {
    type Batch = ImageBatch;

    fn len(&self) -> usize {
        self.len
    }

    fn batch(&self, indices: &[usize]) -> Result<ImageBatch> {
        let mut idx = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= self.len {
                return Err(Error::config(
                    "batch",
                    format!("index {i} out of range of {}", self.len),
                ));
            }
            idx.push(i as i64);
        }
        let idx = Tensor::f_from_slice(&idx)?.f_to_device(self.images.device())?;
        Ok(ImageBatch {
            images: self
                .images
                .f_index_select(0, &idx)?
                .f_to_kind(Kind::Float)?,
            labels: self.labels.f_index_select(0, &idx)?,
        })
    }
}
