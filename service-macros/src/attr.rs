//! Arguments of the attributes: `#[service(..)]` options here, those of the kind
//! attributes (`#[task(..)]`, `#[daemon(..)]`, `#[child(..)]`) in [`work`].
//!
//! Parsing recovers after a bad option (it skips to the next `,`) so that every mistake in
//! one attribute is reported in the same compile.

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
    syn::custom_keyword!(max_children);
    syn::custom_keyword!(manual_ready);
    syn::custom_keyword!(no_new);
}

const OPTIONS: &str = "`name`, `grace`, `max_children`, `manual_ready`, `no_new`";

/// The options of `#[service(..)]`, each set at most once.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    /// `name = ".."`: the service's name.
    pub(crate) name: Option<LitStr>,
    /// `grace = ".."`, in milliseconds.
    pub(crate) grace: Option<u64>,
    /// `max_children = N`.
    pub(crate) max_children: Option<usize>,
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
        self.grace.is_some() || self.max_children.is_some() || self.manual_ready.is_some()
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
            let millis = duration_value(input, "grace = \"2s\"")?;
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

/// `= "<duration>"`, in milliseconds.
fn duration_value(input: ParseStream<'_>, example: &str) -> syn::Result<u64> {
    let value = string_value(input, example)?;
    parse_duration(&value.value()).map_err(|message| syn::Error::new_spanned(&value, message))
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
            max_children = 10,
            manual_ready,
            no_new,
        ));
        assert_eq!(errors, 0);
        assert_eq!(args.name.as_ref().unwrap().value(), "Node");
        assert_eq!(args.grace, Some(2_000));
        assert_eq!(args.max_children, Some(10));
        assert!(args.manual_ready.is_some());
        assert!(args.no_new.is_some());
        assert!(args.has_options());
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
}
