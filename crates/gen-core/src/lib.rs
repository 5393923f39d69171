//! gen-core
