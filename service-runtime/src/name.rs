//! [`Name`]: the name of a task or a service, and the `/`-joined paths made of names.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A task's or a service's name. Most names are `'static` strings; the others are shared, so
/// copying a name (every `Context` of a leaf carries one) never allocates.
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl From<Cow<'static, str>> for Name {
    // Inlined, the common case (a `'static` name) is a move; sharing a `String` is out of
    // line, where its allocation does not weigh on the callers' frames.
    #[inline]
    fn from(name: Cow<'static, str>) -> Name {
        match name {
            Cow::Borrowed(name) => Name::Static(name),
            Cow::Owned(name) => Name::shared(name),
        }
    }
}

impl Name {
    /// A name made of an owned `String` (one allocation, then shared by every copy).
    #[cold]
    #[inline(never)]
    fn shared(name: String) -> Name {
        Name::Shared(name.into())
    }
}

impl From<&'static str> for Name {
    fn from(name: &'static str) -> Name {
        Name::Static(name)
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Name::Static(name) => name,
            Name::Shared(name) => name,
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl Name {
    pub(crate) fn to_cow(&self) -> Cow<'static, str> {
        match self {
            Name::Static(name) => Cow::Borrowed(name),
            Name::Shared(name) => Cow::Owned(name.to_string()),
        }
    }
}

/// `base/name`, or `name` at the top.
pub(crate) fn join(base: &str, name: &str) -> Arc<str> {
    if base.is_empty() {
        return name.into();
    }
    let mut path = String::with_capacity(base.len() + 1 + name.len());
    path.push_str(base);
    path.push('/');
    path.push_str(name);
    path.into()
}
