//! gen-train
