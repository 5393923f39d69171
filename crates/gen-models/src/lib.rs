//! gen-models
