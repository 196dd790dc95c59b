//! Helpers for the crate's unit tests.

use std::future::Future;
use std::sync::Arc;

use crate::{BoxError, Context, LifecycleError, Service};

/// A service named `name` whose body starts work through `start` and returns.
pub(crate) struct FnService<F> {
    name: &'static str,
    start: F,
}

impl<F> FnService<F>
where
    F: Fn(&Context) -> Result<(), LifecycleError> + Send + Sync + 'static,
{
    pub(crate) fn new(name: &'static str, start: F) -> Self {
        FnService { name, start }
    }
}

impl<F> Service for FnService<F>
where
    F: Fn(&Context) -> Result<(), LifecycleError> + Send + Sync + 'static,
{
    fn serve(self: Arc<Self>, cx: Context) -> impl Future<Output = Result<(), BoxError>> + Send {
        let started = (self.start)(&cx);
        async move { Ok(started?) }
    }

    fn name(&self) -> std::borrow::Cow<'static, str> {
        self.name.into()
    }
}
