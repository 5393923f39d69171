//! The arrays a MAT-file holds, as gen-data models them: real numeric arrays (values as
//! `f64`, column-major), cell arrays and struct arrays, and named top-level variables.

use ndarray::Array2;

/// The class of a [`NumericArray`] in the file (its values are always held as `f64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericClass {
    /// `mxDOUBLE_CLASS`.
    Double,
    /// `mxSINGLE_CLASS` (its `f32` values convert exactly to `f64`).
    Single,
}

/// A real numeric array.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericArray {
    /// The class in the file.
    pub class: NumericClass,
    /// The dimensions, at least two (a scalar is `[1, 1]`).
    pub dims: Vec<usize>,
    /// The values in column-major (MATLAB) order; `dims.iter().product()` of them.
    pub data: Vec<f64>,
}

impl NumericArray {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The array as a matrix `[rows, cols]` (row-major ndarray, same values), or `None`
    /// when it has more than two dimensions.
    pub fn to_array2(&self) -> Option<Array2<f64>> {
        let [rows, cols] = self.dims.as_slice() else {
            return None;
        };
        // Column-major data is the row-major data of the transpose.
        Array2::from_shape_vec((*cols, *rows), self.data.clone())
            .ok()
            .map(|a| a.reversed_axes().as_standard_layout().into_owned())
    }

    /// The value of a one-element array.
    pub fn scalar(&self) -> Option<f64> {
        match self.data.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }
}

/// A cell array.
#[derive(Debug, Clone, PartialEq)]
pub struct CellArray {
    /// The dimensions, at least two.
    pub dims: Vec<usize>,
    /// The cells in column-major order.
    pub cells: Vec<MatArray>,
}

/// A struct array.
#[derive(Debug, Clone, PartialEq)]
pub struct StructArray {
    /// The dimensions, at least two (a single struct is `[1, 1]`).
    pub dims: Vec<usize>,
    /// The field names, in file order.
    pub fields: Vec<String>,
    /// For each element (column-major), one value per field, in the order of `fields`.
    pub elements: Vec<Vec<MatArray>>,
}

impl StructArray {
    /// The value of field `name` of element `index` (0-based, column-major), if both exist.
    pub fn field(&self, index: usize, name: &str) -> Option<&MatArray> {
        let f = self.fields.iter().position(|n| n == name)?;
        self.elements.get(index)?.get(f)
    }
}

/// One array of a MAT-file.
#[derive(Debug, Clone, PartialEq)]
pub enum MatArray {
    /// `mxDOUBLE` or `mxSINGLE`.
    Numeric(NumericArray),
    /// `mxCELL`.
    Cell(CellArray),
    /// `mxSTRUCT`.
    Struct(StructArray),
}

impl MatArray {
    /// The array's dimensions.
    pub fn dims(&self) -> &[usize] {
        match self {
            MatArray::Numeric(a) => &a.dims,
            MatArray::Cell(a) => &a.dims,
            MatArray::Struct(a) => &a.dims,
        }
    }

    /// The kind of array, in words (for error messages).
    pub fn kind_name(&self) -> &'static str {
        match self {
            MatArray::Numeric(_) => "numeric array",
            MatArray::Cell(_) => "cell array",
            MatArray::Struct(_) => "struct array",
        }
    }
}

/// A named top-level variable.
#[derive(Debug, Clone, PartialEq)]
pub struct MatVariable {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: MatArray,
}
