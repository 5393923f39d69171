//! Borrowed views of f32 CPU tensors as Rust slices, for fused kernels written in Rust
//! (gen-models' GRU step, gen-train's Adam): one pass over the data instead of a chain of
//! libtorch kernels.
//!
//! [`views`] is the only way in, and it is `unsafe`: it checks kinds, devices, layouts and
//! that no output overlaps another operand, but it cannot know what other threads do.
//!
//! ```
//! use gen_core::slices::views;
//! use tch::Tensor;
//!
//! # fn main() -> gen_core::Result<()> {
//! let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).f_view([2, 2])?;
//! let y = x.f_zeros_like()?;
//! {
//!     // SAFETY: `x` and `y` are this function's own; nothing else touches them meanwhile.
//!     let ([x], [mut y]) = unsafe { views([&x], [&y]) }?;
//!     for (i, row) in y.rows_mut().enumerate() {
//!         for (o, v) in row.iter_mut().zip(x.row(i)) {
//!             *o = 2.0 * v;
//!         }
//!     }
//! }
//! assert_eq!(Vec::<f32>::try_from(&y.f_view([-1])?)?, vec![2.0, 4.0, 6.0, 8.0]);
//! # Ok(())
//! # }
//! ```

use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// A read-only `[rows, cols]` f32 matrix in memory: row `i` is
/// `data[i * stride .. i * stride + cols]`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> Mat<'a> {
    /// Row `i` (empty past the end).
    pub fn row(&self, i: usize) -> &'a [f32] {
        let start = i * self.stride;
        self.data.get(start..start + self.cols).unwrap_or(&[])
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A writable, contiguous `[rows, cols]` f32 matrix in memory.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
}

impl MatMut<'_> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The rows, in order.
    pub fn rows_mut(&mut self) -> std::slice::ChunksExactMut<'_, f32> {
        self.data.chunks_exact_mut(self.cols.max(1))
    }

    /// All elements, row after row.
    pub fn data_mut(&mut self) -> &mut [f32] {
        self.data
    }
}

/// The layout of a 2-D f32 CPU tensor whose rows are contiguous: `(rows, cols, row stride)`.
fn layout(t: &Tensor, what: &'static str, contiguous: bool) -> Result<(usize, usize, usize)> {
    let bad = |reason: String| Error::InvalidArgument {
        name: "slices::views",
        reason: format!("{what}: {reason}"),
    };
    if t.kind() != Kind::Float || t.device() != Device::Cpu {
        return Err(bad(format!(
            "{:?} on {:?}, not f32 on the CPU",
            t.kind(),
            t.device()
        )));
    }
    let (size, stride) = (t.size(), t.stride());
    let ([rows, cols], [row_stride, col_stride]) = (size.as_slice(), stride.as_slice()) else {
        return Err(bad(format!("shape {size:?}, not 2-D")));
    };
    let as_usize =
        |v: i64| usize::try_from(v).map_err(|_| bad(format!("negative size or stride {v}")));
    let (rows, cols, row_stride) = (as_usize(*rows)?, as_usize(*cols)?, as_usize(*row_stride)?);
    let row_ok = if contiguous {
        row_stride == cols
    } else {
        row_stride >= cols
    };
    if rows > 1 && cols > 0 && (*col_stride != 1 || !row_ok) {
        return Err(bad(format!(
            "strides {stride:?} of shape {size:?} are not row-major"
        )));
    }
    Ok((rows, cols, row_stride))
}

/// Elements from a matrix's first element to its last, inclusive.
fn span(rows: usize, cols: usize, stride: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * stride + cols
    }
}

/// Borrows the memory of 2-D f32 CPU tensors (view a 1-D tensor as `[1, n]`): `inputs` read-only (rows contiguous, any row
/// stride), `outputs` writable (fully contiguous). Checks kinds, devices and layouts, and that
/// no output overlaps another output or any input.
///
/// # Safety
///
/// While the returned views live, no other code (another thread, or libtorch through another
/// handle) may write the memory of any of these tensors, or read the memory of `outputs`.
#[allow(unsafe_code)]
pub unsafe fn views<'a, const I: usize, const O: usize>(
    inputs: [&'a Tensor; I],
    outputs: [&'a Tensor; O],
) -> Result<([Mat<'a>; I], [MatMut<'a>; O])> {
    let mut spans: Vec<(usize, usize, bool)> = Vec::with_capacity(I + O);
    let mut laid = Vec::with_capacity(I + O);
    for (k, t) in inputs.iter().chain(outputs.iter()).enumerate() {
        let output = k >= I;
        let (rows, cols, stride) = layout(t, if output { "output" } else { "input" }, output)?;
        let len = span(rows, cols, stride);
        let ptr = t.data_ptr() as *mut f32;
        if len > 0 && (ptr.is_null() || !ptr.is_aligned()) {
            return Err(Error::InvalidArgument {
                name: "slices::views",
                reason: "tensor memory is null or misaligned".into(),
            });
        }
        spans.push((ptr as usize, ptr as usize + len * size_of::<f32>(), output));
        laid.push((ptr, rows, cols, stride, len));
    }
    for (a, &(start_a, end_a, out_a)) in spans.iter().enumerate() {
        for &(start_b, end_b, out_b) in spans.iter().skip(a + 1) {
            let overlap = start_a < end_b && start_b < end_a;
            if overlap && (out_a || out_b) {
                return Err(Error::InvalidArgument {
                    name: "slices::views",
                    reason: "an output overlaps another operand".into(),
                });
            }
        }
    }
    let mut laid = laid.into_iter();
    let mut next = || laid.next().unwrap_or((std::ptr::null_mut(), 0, 0, 0, 0));
    let mats = std::array::from_fn(|_| {
        let (ptr, rows, cols, stride, len) = next();
        let data: &'a [f32] = if len == 0 {
            &[]
        } else {
            // SAFETY: `ptr` is the non-null, aligned start of an f32 CPU tensor whose elements
            // up to `len` (from its sizes and strides) lie in its storage, which the borrowed
            // handle keeps alive for 'a; the caller guarantees that nothing writes it meanwhile.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        };
        Mat {
            data,
            rows,
            cols,
            stride,
        }
    });
    let muts = std::array::from_fn(|_| {
        let (ptr, rows, cols, _, len) = next();
        let data: &'a mut [f32] = if len == 0 {
            &mut []
        } else {
            // SAFETY: as above, and this span overlaps no other operand (checked), while the
            // caller guarantees that nothing else reads or writes it meanwhile.
            unsafe { std::slice::from_raw_parts_mut(ptr, len) }
        };
        MatMut { data, rows, cols }
    });
    Ok((mats, muts))
}

#[cfg(test)]
#[allow(unsafe_code, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn views_reject_aliasing_and_bad_layouts() {
        let o = (Kind::Float, Device::Cpu);
        let a = Tensor::zeros([4, 6], o);
        let b = Tensor::zeros([4, 6], o);
        let view = a.narrow(0, 1, 2);
        assert!(
            unsafe { views([&a], [&view]) }.is_err(),
            "output inside an input"
        );
        assert!(
            unsafe { views::<0, 2>([], [&a, &view]) }.is_err(),
            "outputs overlap"
        );
        assert!(
            unsafe { views([&a, &view], [&b]) }.is_ok(),
            "inputs may overlap"
        );
        let strided = a.narrow(1, 0, 3);
        assert!(
            unsafe { views([&b], [&strided]) }.is_err(),
            "strided output"
        );
        assert!(unsafe { views([&strided], [&b]) }.is_ok(), "strided input");
        let t = a.transpose(0, 1);
        assert!(unsafe { views([&t], [&b]) }.is_err(), "column-major input");
        let d = Tensor::zeros([4, 6], (Kind::Double, Device::Cpu));
        assert!(unsafe { views([&d], [&b]) }.is_err(), "f64");
        let v = Tensor::zeros([24], o);
        assert!(unsafe { views([&v], [&b]) }.is_err(), "1-D");
    }
}
