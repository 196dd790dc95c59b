//! Internals used by generated code.
