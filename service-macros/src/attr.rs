//! Arguments of the attributes: `#[service(..)]` options and the kind attributes
//! `#[task]`, `#[daemon]`, `#[child]`, `#[child(daemon)]`.
//!
//! Parsing recovers after a bad option (it skips to the next `,`) so that every mistake in
//! one attribute is reported in the same compile.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprLit, Lit, LitInt, LitStr, Meta, Token};

use crate::ctxt::Errors;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(grace);
    syn::custom_keyword!(max_children);
    syn::custom_keyword!(no_new);
    syn::custom_keyword!(daemon);
}

const OPTIONS: &str = "`name`, `grace`, `max_children`, `no_new`";

/// The options of `#[service(..)]`, each set at most once.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    /// `name = ".."`: the service's name.
    pub(crate) name: Option<LitStr>,
    /// `grace = ".."`, in milliseconds.
    pub(crate) grace: Option<u64>,
    /// `max_children = N`.
    pub(crate) max_children: Option<usize>,
    /// `no_new`: do not generate `new`; the keyword, for errors where it does not apply.
    pub(crate) no_new: Option<kw::no_new>,
}

impl ServiceArgs {
    /// Parses `args`, recording every mistake in `errors`; options in error are left unset.
    pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> ServiceArgs {
        let mut parsed = ServiceArgs::default();
        let parser = |input: ParseStream<'_>| {
            while !input.is_empty() {
                if let Err(error) = parsed.parse_one(input, errors) {
                    errors.push(error);
                    skip_past_comma(input);
                    continue;
                }
                if !input.is_empty()
                    && let Err(error) = input.parse::<Token![,]>()
                {
                    errors.push(error);
                    skip_past_comma(input);
                }
            }
            Ok(())
        };
        if let Err(error) = parser.parse2(args) {
            errors.push(error);
        }
        parsed
    }

    /// Whether any option that changes `Service::options` is set.
    pub(crate) fn has_options(&self) -> bool {
        self.grace.is_some() || self.max_children.is_some()
    }

    fn parse_one(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let keyword: kw::name = input.parse()?;
            let value = string_value(input, "name = \"Node\"")?;
            if value.value().is_empty() {
                errors.spanned(&value, "the service name cannot be empty");
            } else if value.value().contains('/') {
                errors.spanned(
                    &value,
                    "the service name cannot contain `/`: it separates the segments of task paths",
                );
            }
            set_once(&mut self.name, keyword, "name", value, errors);
        } else if lookahead.peek(kw::grace) {
            let keyword: kw::grace = input.parse()?;
            let value = string_value(input, "grace = \"2s\"")?;
            let millis = parse_duration(&value.value())
                .map_err(|message| syn::Error::new_spanned(&value, message))?;
            set_once(&mut self.grace, keyword, "grace", millis, errors);
        } else if lookahead.peek(kw::max_children) {
            let keyword: kw::max_children = input.parse()?;
            let value = int_value(input, "max_children = 100")?;
            let limit = value.base10_parse::<usize>()?;
            if limit == 0 {
                errors.spanned(&value, "`max_children` must be at least 1");
            }
            set_once(
                &mut self.max_children,
                keyword,
                "max_children",
                limit,
                errors,
            );
        } else if lookahead.peek(kw::no_new) {
            let keyword: kw::no_new = input.parse()?;
            if input.peek(Token![=]) {
                let rest: TokenStream = take_until_comma(input);
                return Err(syn::Error::new_spanned(
                    rest,
                    "`no_new` takes no value; write `no_new`",
                ));
            }
            set_once(&mut self.no_new, keyword, "no_new", keyword, errors);
        } else if input.peek(syn::Ident) {
            let unknown: syn::Ident = input.parse()?;
            return Err(syn::Error::new(
                unknown.span(),
                format!("unknown option `{unknown}`; expected one of {OPTIONS}"),
            ));
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    }
}

/// Records `value` in `slot`, or a "duplicate" error at `keyword` if it is already set:
/// the one rule every option follows.
fn set_once<T>(
    slot: &mut Option<T>,
    keyword: impl ToTokens,
    name: &str,
    value: T,
    errors: &mut Errors,
) {
    if slot.is_some() {
        errors.spanned(keyword, format!("duplicate option `{name}`"));
    } else {
        *slot = Some(value);
    }
}

/// `= "<string>"`.
fn string_value(input: ParseStream<'_>, example: &str) -> syn::Result<LitStr> {
    match option_value(input, example)? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(value),
            ..
        }) => Ok(value),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string, like `{example}`"),
        )),
    }
}

/// `= <integer>`.
fn int_value(input: ParseStream<'_>, example: &str) -> syn::Result<LitInt> {
    match option_value(input, example)? {
        Expr::Lit(ExprLit {
            lit: Lit::Int(value),
            ..
        }) => Ok(value),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected an integer, like `{example}`"),
        )),
    }
}

fn option_value(input: ParseStream<'_>, example: &str) -> syn::Result<Expr> {
    if !input.peek(Token![=]) {
        return Err(input.error(format!("expected `=` and a value, like `{example}`")));
    }
    input.parse::<Token![=]>()?;
    input.parse::<Expr>()
}

fn take_until_comma(input: ParseStream<'_>) -> TokenStream {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        if let Ok(tt) = input.parse::<proc_macro2::TokenTree>() {
            tokens.extend([tt]);
        }
    }
    tokens
}

fn skip_past_comma(input: ParseStream<'_>) {
    take_until_comma(input);
    let _: Option<Token![,]> = input.parse().ok();
}

/// `"<n>ms"`, `"<n>s"` or `"<n>m"`, in milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let expected =
        "expected a whole number followed by `ms`, `s` or `m`, like `\"500ms\"` or `\"2s\"`";
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!("invalid duration `{text}`; {expected}"));
    }
    let per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "" => return Err(format!("duration `{text}` has no unit; {expected}")),
        _ => {
            return Err(format!(
                "unknown unit `{}` in duration `{text}`; {expected}",
                unit.trim()
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .ok_or_else(|| format!("duration `{text}` is too large"))
}

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

/// The kind declared by `attr`, whose name is `name` (from [`kind_name`]); mistakes in its
/// arguments are recorded and a best guess returned.
pub(crate) fn parse_kind(attr: &Attribute, name: &str, errors: &mut Errors) -> Kind {
    let args = match &attr.meta {
        Meta::Path(_) => None,
        Meta::List(list) => Some(list),
        Meta::NameValue(nv) => {
            errors.spanned(
                &nv.value,
                format!(
                    "`#[{name}]` takes no value; write `#[{name}]`{}",
                    if name == "child" {
                        " or `#[child(daemon)]`"
                    } else {
                        ""
                    }
                ),
            );
            None
        }
    };
    let kind = match name {
        "task" => Kind::Task,
        "daemon" => Kind::Daemon,
        _ => Kind::Child,
    };
    match args {
        None => kind,
        Some(list) if kind == Kind::Child => parse_child_args(list, errors),
        Some(list) => {
            errors.at(
                list.delimiter.span().join(),
                format!("`#[{name}]` takes no arguments; write `#[{name}]`"),
            );
            kind
        }
    }
}

fn parse_child_args(list: &syn::MetaList, errors: &mut Errors) -> Kind {
    let mut daemon: Option<kw::daemon> = None;
    let parser = |input: ParseStream<'_>| {
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::daemon) {
                let keyword: kw::daemon = input.parse()?;
                set_once(&mut daemon, keyword, "daemon", keyword, errors);
            } else if input.peek(syn::Ident) {
                let unknown: syn::Ident = input.parse()?;
                errors.spanned(
                    &unknown,
                    format!(
                        "unknown argument `{unknown}`; expected `daemon`, as in `#[child(daemon)]`"
                    ),
                );
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(list.tokens.clone()) {
        errors.push(error);
    }
    if daemon.is_some() {
        Kind::DaemonChild
    } else {
        Kind::Child
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(args: TokenStream) -> (ServiceArgs, usize) {
        let mut errors = Errors::default();
        let parsed = ServiceArgs::parse(args, &mut errors);
        let count = errors.finish().err().map_or(0, |e| e.into_iter().count());
        (parsed, count)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("2s"), Ok(2_000));
        assert_eq!(parse_duration("3m"), Ok(180_000));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert!(parse_duration("2").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("2 s")
                .unwrap_err()
                .contains("unknown unit `s`")
        );
        assert!(parse_duration("1.5s").unwrap_err().contains("unknown unit"));
        assert!(
            parse_duration("s")
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!(parse_duration("").unwrap_err().contains("invalid duration"));
        assert!(
            parse_duration("99999999999999999999m")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_duration("999999999999999999m")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn all_options() {
        let (args, errors) = parse(quote!(
            name = "Node",
            grace = "2s",
            max_children = 10,
            no_new,
        ));
        assert_eq!(errors, 0);
        assert_eq!(args.name.unwrap().value(), "Node");
        assert_eq!(args.grace, Some(2_000));
        assert_eq!(args.max_children, Some(10));
        assert!(args.no_new.is_some());
    }

    #[test]
    fn every_mistake_is_reported() {
        let (args, errors) = parse(quote!(
            grase = "2s",
            grace = 2,
            name = "",
            max_children = 0,
            grace = "1s",
            grace = "3s",
            no_new = true
        ));
        // unknown, not a string, empty name, zero, duplicate grace, no_new value
        assert_eq!(errors, 6);
        assert_eq!(args.grace, Some(1_000));
    }

    #[test]
    fn garbage_does_not_panic() {
        for tokens in [
            quote!(=),
            quote!(,,),
            quote!(name),
            quote!(name =),
            quote!(1 2 3),
            quote!(grace = "1s" grace = "2s"),
            quote!(max_children = 99999999999999999999999),
        ] {
            let (_, errors) = parse(tokens);
            assert!(errors > 0);
        }
    }

    fn kind(attr: &Attribute) -> (Option<Kind>, usize) {
        let mut errors = Errors::default();
        let kind = kind_name(attr).map(|name| parse_kind(attr, name, &mut errors));
        (
            kind,
            errors.finish().err().map_or(0, |e| e.into_iter().count()),
        )
    }

    #[test]
    fn kinds() {
        use syn::parse_quote as pq;
        assert!(kind(&pq!(#[task])) == (Some(Kind::Task), 0));
        assert!(kind(&pq!(#[service_runtime::daemon])) == (Some(Kind::Daemon), 0));
        assert!(kind(&pq!(#[child(daemon)])) == (Some(Kind::DaemonChild), 0));
        assert!(kind(&pq!(#[child()])) == (Some(Kind::Child), 0));
        assert!(kind(&pq!(#[child(deamon)])) == (Some(Kind::Child), 1));
        assert!(kind(&pq!(#[child(daemon, daemon)])) == (Some(Kind::DaemonChild), 1));
        assert!(kind(&pq!(#[task(x)])) == (Some(Kind::Task), 1));
        assert!(kind(&pq!(#[daemon = "x"])) == (Some(Kind::Daemon), 1));
        assert!(kind(&pq!(#[other::task])).0.is_none());
        assert!(kind(&pq!(#[tokio::test])).0.is_none());
        assert!(kind(&pq!(#[inline])).0.is_none());
    }
}
