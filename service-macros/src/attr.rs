//! Arguments of the attributes: `#[service(..)]` options here, those of the kind
//! attributes (`#[task(..)]`, `#[daemon(..)]`, `#[child(..)]`) in [`work`].
//!
//! Parsing recovers after a bad option (it skips to the next `,`) so that every mistake in
//! one attribute is reported in the same compile.
//!
//! `name`, `grace`, `drain` and `max_children` take a literal, checked here, or any other
//! expression, evaluated at run time (`name = format!("conn-{}", self.id)`,
//! `grace = self.grace`): a literal of the wrong kind is an error here, an expression of the
//! wrong type is rustc's (spanned at the expression, with the messages of the runtime's
//! `__private` traits).

mod work;

pub(crate) use work::{Keyed, Kind, Policy, RestartArgs, WorkAttr, kind_name, parse_kind};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Token};

use crate::ctxt::Errors;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(grace);
    syn::custom_keyword!(drain);
    syn::custom_keyword!(max_children);
    syn::custom_keyword!(manual_ready);
    syn::custom_keyword!(no_new);
    syn::custom_keyword!(options);
}

const OPTIONS: &str =
    "`name`, `grace`, `drain`, `max_children`, `manual_ready`, `options`, `no_new`";

/// The value of an option: a literal, checked at compile time, or an expression evaluated
/// at run time.
pub(crate) enum Value<T> {
    Lit(T),
    Expr(Box<Expr>),
}

impl<T> Value<T> {
    /// The expression, if the value is one.
    pub(crate) fn expr(&self) -> Option<&Expr> {
        match self {
            Value::Lit(_) => None,
            Value::Expr(expr) => Some(expr),
        }
    }
}

/// The options of `#[service(..)]`, each set at most once.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    /// `name = ".."` or `name = <expr>`: the service's name.
    pub(crate) name: Option<Value<LitStr>>,
    /// `grace = ".."` (in milliseconds) or `grace = <expr>`.
    pub(crate) grace: Option<Value<u64>>,
    /// `drain = ".."` (in milliseconds) or `drain = <expr>`. Zero, the default, is allowed
    /// as it is for `grace`: `"0s"` says "no drain" explicitly.
    pub(crate) drain: Option<Value<u64>>,
    /// `max_children = N` or `max_children = <expr>`.
    pub(crate) max_children: Option<Value<usize>>,
    /// `options = <expr>`: the `Options` the other keys start from.
    pub(crate) options: Option<Box<Expr>>,
    /// `manual_ready`: the service says itself when it is ready (`Options::manual_ready`).
    pub(crate) manual_ready: Option<kw::manual_ready>,
    /// `no_new`: do not generate `new`; the keyword, for errors where it does not apply.
    pub(crate) no_new: Option<kw::no_new>,
}

impl ServiceArgs {
    /// Parses `args`, recording every mistake in `errors`; options in error are left unset.
    pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> ServiceArgs {
        let mut parsed = ServiceArgs::default();
        parse_list(args, errors, |input, errors| {
            parsed.parse_one(input, errors)
        });
        parsed
    }

    /// Whether any option that changes `Service::options` is set.
    pub(crate) fn has_options(&self) -> bool {
        self.grace.is_some()
            || self.drain.is_some()
            || self.max_children.is_some()
            || self.manual_ready.is_some()
            || self.options.is_some()
    }

    /// The run-time expressions among the options that change `Service::options`.
    pub(crate) fn option_exprs(&self) -> impl Iterator<Item = &Expr> {
        let grace = self.grace.as_ref().and_then(Value::expr);
        let drain = self.drain.as_ref().and_then(Value::expr);
        let max_children = self.max_children.as_ref().and_then(Value::expr);
        grace
            .into_iter()
            .chain(drain)
            .chain(max_children)
            .chain(self.options.as_deref())
    }

    fn parse_one(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let keyword: kw::name = input.parse()?;
            let value = match option_value(input, "name = \"node\"")? {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(value),
                    ..
                }) => {
                    if value.value().is_empty() {
                        errors.spanned(&value, "the service name cannot be empty");
                    } else if value.value().contains('/') {
                        errors.spanned(
                            &value,
                            "the service name cannot contain `/`: it separates the segments of task paths",
                        );
                    }
                    Value::Lit(value)
                }
                Expr::Lit(other) => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected a string, like `name = \"node\"`, or an expression that makes \
                         the name at run time, like `name = format!(\"conn-{}\", self.id)`",
                    ));
                }
                expr => Value::Expr(Box::new(expr)),
            };
            set_once(&mut self.name, keyword, "name", value, errors);
        } else if lookahead.peek(kw::grace) {
            let keyword: kw::grace = input.parse()?;
            let value = duration_value(input, "grace", "2s")?;
            set_once(&mut self.grace, keyword, "grace", value, errors);
        } else if lookahead.peek(kw::drain) {
            let keyword: kw::drain = input.parse()?;
            let value = duration_value(input, "drain", "5s")?;
            set_once(&mut self.drain, keyword, "drain", value, errors);
        } else if lookahead.peek(kw::max_children) {
            let keyword: kw::max_children = input.parse()?;
            let value = match option_value(input, "max_children = 100")? {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(value),
                    ..
                }) => {
                    let limit = value.base10_parse::<usize>()?;
                    if limit == 0 {
                        errors.spanned(&value, "`max_children` must be at least 1");
                    }
                    Value::Lit(limit)
                }
                Expr::Lit(other) => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected an integer, like `max_children = 100`, or an expression of type \
                         `usize`, like `max_children = self.limit`",
                    ));
                }
                expr => Value::Expr(Box::new(expr)),
            };
            set_once(
                &mut self.max_children,
                keyword,
                "max_children",
                value,
                errors,
            );
        } else if lookahead.peek(kw::options) {
            let keyword: kw::options = input.parse()?;
            let value = match option_value(input, "options = self.options.clone()")? {
                Expr::Lit(other) => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected an expression of type `Options`, like `options = self.options.clone()`",
                    ));
                }
                expr => Box::new(expr),
            };
            set_once(&mut self.options, keyword, "options", value, errors);
        } else if lookahead.peek(kw::manual_ready) {
            let keyword: kw::manual_ready = input.parse()?;
            no_value(input, "manual_ready")?;
            set_once(
                &mut self.manual_ready,
                keyword,
                "manual_ready",
                keyword,
                errors,
            );
        } else if lookahead.peek(kw::no_new) {
            let keyword: kw::no_new = input.parse()?;
            no_value(input, "no_new")?;
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

/// Parses the comma-separated arguments in `tokens`, one at a time with `parse_one`. After
/// a bad argument it records the error and skips to the next `,`, so that every mistake is
/// reported.
fn parse_list<F>(tokens: TokenStream, errors: &mut Errors, mut parse_one: F)
where
    F: FnMut(ParseStream<'_>, &mut Errors) -> syn::Result<()>,
{
    let parser = |input: ParseStream<'_>| {
        while !input.is_empty() {
            if let Err(error) = parse_one(input, errors) {
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
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
}

/// A flag, which must not be followed by `= value`.
fn no_value(input: ParseStream<'_>, flag: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        let rest: TokenStream = take_until_comma(input);
        return Err(syn::Error::new_spanned(
            rest,
            format!("`{flag}` takes no value; write `{flag}`"),
        ));
    }
    Ok(())
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

/// `= "<n>ms|s|m"`, in milliseconds, or `= <expr>` of type `Duration`: the value of the
/// duration option `key`, whose literal example is `example`.
fn duration_value(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<Value<u64>> {
    match option_value(input, &format!("{key} = \"{example}\""))? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(value),
            ..
        }) => parse_duration(&value.value())
            .map(Value::Lit)
            .map_err(|message| syn::Error::new_spanned(&value, message)),
        Expr::Lit(other) => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected a string with a unit, like `{key} = \"{example}\"`, or an expression \
                 of type `Duration` for a {key} chosen at run time, like `{key} = self.{key}`"
            ),
        )),
        expr => Ok(Value::Expr(Box::new(expr))),
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
fn parse_duration(text: &str) -> Result<u64, String> {
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
            drain = "5s",
            max_children = 10,
            manual_ready,
            no_new,
        ));
        assert_eq!(errors, 0);
        assert!(matches!(&args.name, Some(Value::Lit(name)) if name.value() == "Node"));
        assert!(matches!(args.grace, Some(Value::Lit(2_000))));
        assert!(matches!(args.drain, Some(Value::Lit(5_000))));
        assert!(matches!(args.max_children, Some(Value::Lit(10))));
        assert_eq!(args.option_exprs().count(), 0);
        assert!(args.manual_ready.is_some());
        assert!(args.no_new.is_some());
        assert!(args.has_options());
    }

    #[test]
    fn drain_alone_changes_the_options() {
        let (args, errors) = parse(quote!(drain = "500ms"));
        assert_eq!(errors, 0);
        assert!(matches!(args.drain, Some(Value::Lit(500))));
        assert!(args.grace.is_none());
        assert!(args.has_options());
    }

    #[test]
    fn zero_is_a_drain_as_it_is_a_grace() {
        let (args, errors) = parse(quote!(grace = "0s", drain = "0ms"));
        assert_eq!(errors, 0);
        assert!(matches!(args.grace, Some(Value::Lit(0))));
        assert!(matches!(args.drain, Some(Value::Lit(0))));
    }

    #[test]
    fn drain_mistakes_are_reported() {
        let (args, errors) = parse(quote!(
            drain = 5,
            drain = "abc",
            drain = "5",
            drain = "1s",
            drain = "2s",
            drain = self.drain,
        ));
        // not a string, bad unit, no unit, two duplicates; the first valid one is kept
        assert_eq!(errors, 5);
        assert!(matches!(args.drain, Some(Value::Lit(1_000))));
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
            no_new = true,
            manual_ready = yes,
            manual_ready,
            manual_ready,
        ));
        // unknown, not a string, empty name, zero, duplicate grace, no_new value,
        // manual_ready value, duplicate manual_ready
        assert_eq!(errors, 8);
        assert!(matches!(args.grace, Some(Value::Lit(1_000))));
    }

    #[test]
    fn run_time_values() {
        let (args, errors) = parse(quote!(
            name = format!("conn-{}", self.id),
            grace = self.grace,
            drain = self.drain,
            max_children = self.limit(),
            options = self.options.clone(),
        ));
        assert_eq!(errors, 0);
        assert!(args.name.as_ref().and_then(Value::expr).is_some());
        assert!(args.drain.as_ref().and_then(Value::expr).is_some());
        assert_eq!(args.option_exprs().count(), 4);
        assert!(args.has_options());
    }

    #[test]
    fn literals_of_the_wrong_kind() {
        let (args, errors) = parse(quote!(
            name = 5,
            grace = 2,
            drain = 5,
            max_children = "10",
            options = true,
            options = self.options(),
        ));
        // five literals of the wrong kind; the second `options` is the first valid one
        assert_eq!(errors, 5);
        assert!(args.name.is_none() && args.grace.is_none() && args.max_children.is_none());
        assert!(args.drain.is_none());
        assert!(args.options.is_some());
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
            quote!(drain),
            quote!(drain = ),
            quote!(drain = "1s" drain = "2s"),
            quote!(max_children = 99999999999999999999999),
        ] {
            let (_, errors) = parse(tokens);
            assert!(errors > 0);
        }
    }
}
