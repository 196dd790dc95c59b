//! background
