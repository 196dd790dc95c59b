//! The kind attributes, `#[task]`, `#[daemon]`, `#[child]`, and their arguments: `daemon`
//! (on `#[child]`), `contained` and the restart keys `restart`, `max_restarts`, `within`,
//! `backoff`.
//!
//! Values are checked here, each on its own; rules between keys (a key that needs a
//! restart policy) are in `valid`.

use syn::parse::ParseStream;
use syn::{Attribute, Ident, LitStr, Meta};

use super::{int_value, no_value, parse_duration, parse_list, set_once, string_value};
use crate::ctxt::Errors;

mod kw {
    syn::custom_keyword!(daemon);
    syn::custom_keyword!(contained);
    syn::custom_keyword!(restart);
    syn::custom_keyword!(max_restarts);
    syn::custom_keyword!(within);
    syn::custom_keyword!(backoff);
}

/// The arguments every kind attribute takes (`#[child]` takes `daemon` too).
const KEYS: &str = "`contained`, `restart`, `max_restarts`, `within`, `backoff`";
const POLICIES: &str = "`\"never\"`, `\"on-failure\"`, `\"always\"`";
const BACKOFF_EXAMPLE: &str = "backoff = \"100ms..10s\"";

/// Which work an annotated method declares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Task,
    Daemon,
    Child,
    DaemonChild,
}

impl Kind {
    /// The attribute as written, for messages: `#[task]`.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Task => "#[task]",
            Kind::Daemon => "#[daemon]",
            Kind::Child => "#[child]",
            Kind::DaemonChild => "#[child(daemon)]",
        }
    }

    /// A task or daemon task (as opposed to a child service).
    pub(crate) fn is_task(self) -> bool {
        matches!(self, Kind::Task | Kind::Daemon)
    }

    /// A daemon task or daemon child service.
    pub(crate) fn is_daemon(self) -> bool {
        matches!(self, Kind::Daemon | Kind::DaemonChild)
    }
}

/// `restart = ".."`: when the work is started again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// `"never"`, the default.
    Never,
    /// `"on-failure"`.
    OnFailure,
    /// `"always"`.
    Always,
}

/// What one kind attribute declares: the kind of work, and its keys.
pub(crate) struct WorkAttr {
    pub(crate) kind: Kind,
    /// `contained`: the work is a failure boundary, whose failure ends it alone.
    pub(crate) contained: bool,
    pub(crate) restart: RestartArgs,
}

/// A value, and the key it was given with (for errors about the key).
pub(crate) struct Keyed<T> {
    pub(crate) key: Ident,
    pub(crate) value: T,
}

/// The restart keys of a kind attribute, each set at most once; keys in error are unset.
#[derive(Default)]
pub(crate) struct RestartArgs {
    /// `restart = ".."`: its policy, or `None` if the value was invalid (and reported), so
    /// that the other keys are not reported again as lacking a policy.
    pub(crate) policy: Option<Keyed<Option<Policy>>>,
    /// `max_restarts = N`.
    pub(crate) max_restarts: Option<Keyed<usize>>,
    /// `within = ".."`, in milliseconds.
    pub(crate) within: Option<Keyed<u64>>,
    /// `backoff = "<min>..<max>"`, in milliseconds.
    pub(crate) backoff: Option<Keyed<(u64, u64)>>,
}

impl RestartArgs {
    /// The policy, if it restarts anything (`"on-failure"` or `"always"`).
    pub(crate) fn restarting(&self) -> Option<Policy> {
        match self.policy.as_ref()?.value? {
            Policy::Never => None,
            policy => Some(policy),
        }
    }

    /// The keys that tune a restart policy, as written.
    pub(crate) fn modifiers(&self) -> impl Iterator<Item = &Ident> {
        let max_restarts = self.max_restarts.as_ref().map(|keyed| &keyed.key);
        let within = self.within.as_ref().map(|keyed| &keyed.key);
        let backoff = self.backoff.as_ref().map(|keyed| &keyed.key);
        max_restarts.into_iter().chain(within).chain(backoff)
    }
}

/// The kind attribute `attr` names (`task`, `service_runtime::task`, ..), if any.
pub(crate) fn kind_name(attr: &Attribute) -> Option<&'static str> {
    let path = attr.path();
    let last = path.segments.last()?;
    let prefix_ok = match path.segments.len() {
        1 => path.leading_colon.is_none(),
        2 => ["service_runtime", "service_macros"]
            .iter()
            .any(|krate| path.segments[0].ident == krate),
        _ => false,
    };
    if !prefix_ok || !last.arguments.is_none() {
        return None;
    }
    ["task", "daemon", "child"]
        .into_iter()
        .find(|name| last.ident == name)
}

/// What `attr`, whose name is `name` (from [`kind_name`]), declares; mistakes in its
/// arguments are recorded and a best guess returned.
pub(crate) fn parse_kind(attr: &Attribute, name: &str, errors: &mut Errors) -> WorkAttr {
    let kind = match name {
        "task" => Kind::Task,
        "daemon" => Kind::Daemon,
        _ => Kind::Child,
    };
    let mut args = WorkArgs {
        kind,
        daemon: None,
        contained: None,
        restart: RestartArgs::default(),
    };
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => {
            parse_list(list.tokens.clone(), errors, |input, errors| {
                args.parse_one(input, errors)
            });
        }
        Meta::NameValue(nv) => errors.spanned(
            &nv.value,
            format!(
                "`#[{name}]` takes no value; write `#[{name}]`{}, or restart keys such as `#[{name}(restart = \"on-failure\")]`",
                if kind == Kind::Child {
                    ", `#[child(daemon)]`"
                } else {
                    ""
                }
            ),
        ),
    }
    let kind = if args.daemon.is_some() {
        Kind::DaemonChild
    } else {
        kind
    };
    WorkAttr {
        kind,
        contained: args.contained.is_some(),
        restart: args.restart,
    }
}

/// The arguments of one kind attribute, as they are parsed.
struct WorkArgs {
    /// The kind the attribute's name declares.
    kind: Kind,
    /// `daemon`, on `#[child]`.
    daemon: Option<kw::daemon>,
    contained: Option<kw::contained>,
    restart: RestartArgs,
}

impl WorkArgs {
    fn parse_one(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let restart = &mut self.restart;
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::daemon) {
            let keyword: kw::daemon = input.parse()?;
            match self.kind {
                Kind::Task => errors.at(
                    keyword.span,
                    "`#[task]` takes no `daemon` argument; for a daemon task, write `#[daemon]`",
                ),
                Kind::Daemon => errors.at(
                    keyword.span,
                    "`#[daemon]` declares a daemon task already; remove `daemon`",
                ),
                Kind::Child | Kind::DaemonChild => {
                    set_once(&mut self.daemon, keyword, "daemon", keyword, errors);
                }
            }
        } else if lookahead.peek(kw::contained) {
            let keyword: kw::contained = input.parse()?;
            no_value(input, "contained")?;
            set_once(&mut self.contained, keyword, "contained", keyword, errors);
        } else if lookahead.peek(kw::restart) {
            let key = key::<kw::restart>(input, "restart")?;
            let policy =
                string_value(input, "restart = \"on-failure\"").and_then(|value| policy(&value));
            let value = policy.as_ref().ok().copied();
            set_keyed(&mut restart.policy, key, value, errors);
            policy?;
        } else if lookahead.peek(kw::max_restarts) {
            let key = key::<kw::max_restarts>(input, "max_restarts")?;
            let value = int_value(input, "max_restarts = 5")?.base10_parse::<usize>()?;
            set_keyed(&mut restart.max_restarts, key, value, errors);
        } else if lookahead.peek(kw::within) {
            let key = key::<kw::within>(input, "within")?;
            let value = string_value(input, "within = \"60s\"")?;
            let millis = parse_duration(&value.value())
                .map_err(|message| syn::Error::new_spanned(&value, message))?;
            if millis == 0 {
                errors.spanned(
                    &value,
                    "`within` must be longer than zero: restarts are counted inside a window of this length",
                );
            }
            set_keyed(&mut restart.within, key, millis, errors);
        } else if lookahead.peek(kw::backoff) {
            let key = key::<kw::backoff>(input, "backoff")?;
            let value = string_value(input, BACKOFF_EXAMPLE)?;
            let range = backoff(&value.value())
                .map_err(|message| syn::Error::new_spanned(&value, message))?;
            set_keyed(&mut restart.backoff, key, range, errors);
        } else if input.peek(Ident) {
            let unknown: Ident = input.parse()?;
            let expected = if self.kind.is_task() {
                KEYS.to_owned()
            } else {
                format!("`daemon`, {KEYS}")
            };
            return Err(syn::Error::new(
                unknown.span(),
                format!("unknown argument `{unknown}`; expected one of {expected}"),
            ));
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    }
}

/// [`set_once`] for a restart key.
fn set_keyed<T>(slot: &mut Option<Keyed<T>>, key: Ident, value: T, errors: &mut Errors) {
    let name = key.to_string();
    set_once(slot, key.clone(), &name, Keyed { key, value }, errors);
}

/// The keyword `K`, as an identifier named `name` at its span.
fn key<K: syn::parse::Parse + syn::spanned::Spanned>(
    input: ParseStream<'_>,
    name: &str,
) -> syn::Result<Ident> {
    let keyword: K = input.parse()?;
    Ok(Ident::new(name, keyword.span()))
}

/// The policy named by `value`.
fn policy(value: &LitStr) -> syn::Result<Policy> {
    match value.value().as_str() {
        "never" => Ok(Policy::Never),
        "on-failure" => Ok(Policy::OnFailure),
        "always" => Ok(Policy::Always),
        other => Err(syn::Error::new_spanned(
            value,
            format!("unknown restart policy `{other}`; expected one of {POLICIES}"),
        )),
    }
}

/// `"<min>..<max>"`, both durations, in milliseconds.
fn backoff(text: &str) -> Result<(u64, u64), String> {
    let Some((min_text, max_text)) = text.split_once("..") else {
        return Err(format!(
            "expected a range of durations, `<min>..<max>`, like `{BACKOFF_EXAMPLE}`"
        ));
    };
    if min_text.is_empty() || max_text.is_empty() {
        return Err(format!(
            "the backoff range `{text}` needs both a minimum and a maximum, like `{BACKOFF_EXAMPLE}`"
        ));
    }
    let min = parse_duration(min_text)?;
    let max = parse_duration(max_text)?;
    if min == 0 {
        return Err(format!(
            "the backoff must start above zero, as each delay doubles the one before; like `{BACKOFF_EXAMPLE}`"
        ));
    }
    if min > max {
        return Err(format!(
            "the backoff range `{text}` is empty: its minimum is longer than its maximum; write `\"{max_text}..{min_text}\"`"
        ));
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote as pq;

    fn parse(attr: &Attribute) -> (Option<WorkAttr>, usize) {
        let mut errors = Errors::default();
        let parsed = kind_name(attr).map(|name| parse_kind(attr, name, &mut errors));
        let count = errors.finish().err().map_or(0, |e| e.into_iter().count());
        (parsed, count)
    }

    fn kind(attr: &Attribute) -> (Option<Kind>, usize) {
        let (parsed, errors) = parse(attr);
        (parsed.map(|parsed| parsed.kind), errors)
    }

    #[test]
    fn kinds() {
        assert!(kind(&pq!(#[task])) == (Some(Kind::Task), 0));
        assert!(kind(&pq!(#[service_runtime::daemon])) == (Some(Kind::Daemon), 0));
        assert!(kind(&pq!(#[child(daemon)])) == (Some(Kind::DaemonChild), 0));
        assert!(kind(&pq!(#[child()])) == (Some(Kind::Child), 0));
        assert!(kind(&pq!(#[child(deamon)])) == (Some(Kind::Child), 1));
        assert!(kind(&pq!(#[child(daemon, daemon)])) == (Some(Kind::DaemonChild), 1));
        assert!(kind(&pq!(#[task(x)])) == (Some(Kind::Task), 1));
        assert!(kind(&pq!(#[task(daemon)])) == (Some(Kind::Task), 1));
        assert!(kind(&pq!(#[daemon(daemon)])) == (Some(Kind::Daemon), 1));
        assert!(kind(&pq!(#[daemon = "x"])) == (Some(Kind::Daemon), 1));
        assert!(kind(&pq!(#[other::task])).0.is_none());
        assert!(kind(&pq!(#[tokio::test])).0.is_none());
        assert!(kind(&pq!(#[inline])).0.is_none());
    }

    #[test]
    fn restart_keys() {
        let (parsed, errors) = parse(&pq!(#[child(
            daemon,
            restart = "on-failure",
            max_restarts = 5,
            within = "1m",
            backoff = "100ms..10s",
        )]));
        assert_eq!(errors, 0);
        let WorkAttr {
            kind,
            contained,
            restart,
        } = parsed.unwrap();
        assert!(kind == Kind::DaemonChild);
        assert!(!contained);
        assert!(restart.restarting() == Some(Policy::OnFailure));
        assert_eq!(restart.max_restarts.as_ref().unwrap().value, 5);
        assert_eq!(restart.within.as_ref().unwrap().value, 60_000);
        assert_eq!(restart.backoff.as_ref().unwrap().value, (100, 10_000));
        let keys: Vec<String> = restart.modifiers().map(ToString::to_string).collect();
        assert_eq!(keys, ["max_restarts", "within", "backoff"]);

        let (parsed, errors) = parse(&pq!(#[task(restart = "never")]));
        assert_eq!(errors, 0);
        assert!(parsed.unwrap().restart.restarting().is_none());
        let (parsed, errors) = parse(&pq!(#[daemon(restart = "always")]));
        assert_eq!(errors, 0);
        assert!(parsed.unwrap().restart.restarting() == Some(Policy::Always));
    }

    #[test]
    fn contained() {
        for attr in [
            pq!(#[task(contained)]),
            pq!(#[daemon(contained, restart = "on-failure")]),
            pq!(#[child(restart = "always", contained, daemon)]),
        ] {
            let (parsed, errors) = parse(&attr);
            assert_eq!(errors, 0);
            assert!(parsed.unwrap().contained);
        }
        let (parsed, errors) = parse(&pq!(#[child(daemon, restart = "always")]));
        assert_eq!(errors, 0);
        assert!(!parsed.unwrap().contained);
        // Given twice: still contained, one error.
        let (parsed, errors) = parse(&pq!(#[task(contained, contained)]));
        assert_eq!(errors, 1);
        assert!(parsed.unwrap().contained);
        // With a value: an error, and not contained, nor are the other keys affected.
        let (parsed, errors) = parse(&pq!(#[daemon(contained = true, restart = "always")]));
        assert_eq!(errors, 1);
        let parsed = parsed.unwrap();
        assert!(!parsed.contained);
        assert!(parsed.restart.restarting() == Some(Policy::Always));
    }

    #[test]
    fn every_mistake_in_restart_keys_is_reported() {
        let (parsed, errors) = parse(&pq!(#[daemon(
            restart = "sometimes",
            max_restarts = "5",
            within = "0s",
            backoff = "10s",
            backoff = "10s..1s",
            backoff = "0ms..1s",
            backoff = "1x..2s",
            within = "1s",
            retsart = "always",
            restart = on_failure,
        )]));
        // policy, integer, zero window, no range, empty range, zero start, bad unit,
        // duplicate `within`, unknown key, and a duplicate `restart` that is no string
        assert_eq!(errors, 11);
        let restart = parsed.unwrap().restart;
        // The invalid policy is remembered as written, so that other keys are not
        // reported as lacking one.
        assert!(restart.policy.is_some_and(|policy| policy.value.is_none()));
        assert!(restart.max_restarts.is_none());
        assert!(restart.backoff.is_none());
    }

    #[test]
    fn backoff_ranges() {
        assert_eq!(backoff("100ms..10s"), Ok((100, 10_000)));
        assert_eq!(backoff("1s..1s"), Ok((1_000, 1_000)));
        assert!(backoff("10s").unwrap_err().contains("range of durations"));
        assert!(backoff("10s..1s").unwrap_err().contains("`\"1s..10s\"`"));
        assert!(backoff("0s..1s").unwrap_err().contains("above zero"));
        assert!(backoff("1s..=2s").unwrap_err().contains("invalid duration"));
        assert!(
            backoff("..")
                .unwrap_err()
                .contains("both a minimum and a maximum")
        );
        assert!(
            backoff("1s..")
                .unwrap_err()
                .contains("both a minimum and a maximum")
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for attr in [
            pq!(#[task(=)]),
            pq!(#[task(,,)]),
            pq!(#[daemon(restart)]),
            pq!(#[daemon(restart =)]),
            pq!(#[child(1 2 3)]),
            pq!(#[child(restart = "always" daemon)]),
            pq!(#[task(contained =)]),
            pq!(#[task(contained contained)]),
            pq!(#[task(max_restarts = 99999999999999999999999)]),
        ] {
            let (parsed, errors) = parse(&attr);
            assert!(parsed.is_some());
            assert!(errors > 0);
        }
    }
}
