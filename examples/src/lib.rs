//! Runnable examples of `service-runtime`: see the `[[example]]` targets of this package.
