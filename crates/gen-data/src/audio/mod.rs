//! Audio files.

pub mod wav;
