//! Code generation. `service` runs the pipeline — model, validation, generation — and falls
//! back to `fallback` on error; the generators themselves cannot fail.
//!
//! Generated code names everything by absolute path (`::service_runtime::..`, `::core::..`,
//! `::std::..`) and its locals start with `__`, so the user's scope cannot change its
//! meaning.

pub(crate) mod fns;
pub(crate) mod impls;
pub(crate) mod structs;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;
use syn::{Attribute, Generics, Ident, Item, Type, Visibility};

use crate::ast::{self, Input};
use crate::attr::{ServiceArgs, Value};
use crate::ctxt::Errors;
use crate::{fallback, valid};

/// `#[service(args)] item`.
pub(crate) fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return fallback::unparsed(&error, item),
    };
    let mut errors = Errors::default();
    let input = Input::new(args, parsed, &mut errors);
    match try_expand(&input, errors) {
        Ok(tokens) => tokens,
        Err(error) => fallback::service(&input, &error),
    }
}

fn try_expand(input: &Input, mut errors: Errors) -> syn::Result<TokenStream> {
    valid::check(input, &mut errors);
    errors.finish()?;
    Ok(generate(input))
}

/// The expansion of valid input.
pub(crate) fn generate(input: &Input) -> TokenStream {
    match input {
        Input::Struct(input) => structs::expand(input),
        Input::Impl(input) => impls::expand(input),
        Input::Fn(input) => fns::expand(input),
        // Always an error (see `valid`); emitted unchanged for completeness.
        Input::Other(item) => item.to_token_stream(),
    }
}

/// The argument with which `#[service]` re-invokes the kind attributes it consumed.
const CONSUMED: &str = "__consumed_by_service";

/// `#[task]`, `#[daemon]` or `#[child]` expanded on its own: either re-invoked by
/// `#[service]` with [`CONSUMED`] (it expands to nothing), or not inside a
/// `#[service] impl` block, which would have consumed it (an error).
pub(crate) fn stray(name: &str, args: TokenStream, item: TokenStream) -> TokenStream {
    if args.to_string() == CONSUMED {
        return TokenStream::new();
    }
    let error = syn::Error::new(
        Span::call_site(),
        format!(
            "`#[{name}]` only works on a method of a `#[service] impl` block; \
             add `#[service]` to the `impl` block, or remove `#[{name}]`"
        ),
    );
    let mut tokens = error.to_compile_error();
    tokens.extend(item);
    tokens
}

/// The struct generated for `#[service] async fn heartbeat`: `Heartbeat`.
pub(crate) fn struct_name(function: &Ident) -> Ident {
    let mut name = String::new();
    for word in function
        .unraw()
        .to_string()
        .split('_')
        .filter(|word| !word.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    if name.is_empty() {
        name.push_str("Service");
    }
    Ident::new(&name, function.span())
}

/// `name()` and `options()` of a `Service` impl, where they differ from the defaults. The
/// default name is the type's name without its module path: for a type without generic
/// parameters it is written out here, saving the default's allocation; a generic type
/// keeps the default, which includes the type arguments (`Node<Json>`), as it would by hand.
///
/// A run-time name or option is evaluated in `name()` / `options()`, with `self` in scope,
/// unless `stored` says it was evaluated once already and kept in the hidden fields
/// `__name` / `__options` (a function service's, see `fns`).
fn service_fns(
    args: &ServiceArgs,
    type_name: &Ident,
    generics: &Generics,
    stored: Stored,
) -> TokenStream {
    let generic =
        generics.type_params().next().is_some() || generics.const_params().next().is_some();
    let name = match &args.name {
        Some(Value::Lit(name)) => Some(quote!(::std::borrow::Cow::Borrowed(#name))),
        Some(Value::Expr(_)) if stored.name => {
            Some(quote!(::core::clone::Clone::clone(&self.__name)))
        }
        Some(Value::Expr(_)) => name_expr(args),
        None => (!generic).then(|| {
            let name = type_name.unraw().to_string();
            quote!(::std::borrow::Cow::Borrowed(#name))
        }),
    };
    let name = name.map(|name| {
        quote! {
            fn name(&self) -> ::std::borrow::Cow<'static, str> {
                #name
            }
        }
    });
    let options = if stored.options {
        Some(quote!(::core::clone::Clone::clone(&self.__options)))
    } else {
        options_expr(args)
    };
    let options = options.map(|options| {
        quote! {
            fn options(&self) -> ::service_runtime::Options {
                #options
            }
        }
    });
    quote!(#name #options)
}

/// Which run-time values a function service evaluated in `new` and keeps in hidden fields.
#[derive(Clone, Copy, Default)]
pub(crate) struct Stored {
    /// `__name: Cow<'static, str>`.
    pub(crate) name: bool,
    /// `__options: Options`.
    pub(crate) options: bool,
}

/// The name `name = <expr>` makes, if the name is an expression.
fn name_expr(args: &ServiceArgs) -> Option<TokenStream> {
    let expr = args.name.as_ref()?.expr()?;
    Some(quote!(::service_runtime::__private::service_name(#expr)))
}

/// Sets the duration option `key` of `__options`: `set_<key>` with a literal's milliseconds,
/// `set_<key>_to` with an expression (whose type the runtime's trait for the key checks).
fn set_duration(key: &str, value: &Value<u64>) -> TokenStream {
    match value {
        Value::Lit(millis) => {
            let set = format_ident!("set_{key}");
            quote!(::service_runtime::__private::#set(&mut __options, #millis);)
        }
        Value::Expr(expr) => {
            let set = format_ident!("set_{key}_to");
            quote!(::service_runtime::__private::#set(&mut __options, #expr);)
        }
    }
}

/// The `Options` the options describe, if any differs from the default: `options = ..` (or
/// the default), then each key.
fn options_expr(args: &ServiceArgs) -> Option<TokenStream> {
    if !args.has_options() {
        return None;
    }
    let base = args.options.as_ref().map_or_else(
        || quote!(::service_runtime::Options::default()),
        |expr| quote!(#expr),
    );
    let grace = args
        .grace
        .as_ref()
        .map(|grace| set_duration("grace", grace));
    let drain = args
        .drain
        .as_ref()
        .map(|drain| set_duration("drain", drain));
    let max_children = args.max_children.as_ref().map(|limit| {
        let limit = match limit {
            Value::Lit(limit) => quote!(#limit),
            Value::Expr(expr) => quote!(#expr),
        };
        quote!(::service_runtime::__private::set_max_children(&mut __options, #limit);)
    });
    let manual_ready = args
        .manual_ready
        .map(|_| quote!(::service_runtime::__private::set_manual_ready(&mut __options);));
    Some(quote! {{
        let mut __options: ::service_runtime::Options = #base;
        #grace
        #drain
        #max_children
        #manual_ready
        __options
    }})
}

/// The expression that awaits `call`, the future of a task method or `#[service]` function
/// returning `output` (`()` if `None`), and converts its output into the runtime's
/// `Result<(), BoxError>`. The user's return type is named so that a wrong one is reported
/// there, with `IntoTaskResult`'s explanation; `!` cannot be named on stable Rust, so the
/// future of a task that never returns is converted as a whole.
fn task_result(output: Option<&Type>, call: &TokenStream) -> TokenStream {
    match output.map(ast::unwrap_group) {
        Some(Type::Never(_)) => quote!(::service_runtime::__private::never_returns(#call).await),
        _ => {
            let output = output.map_or_else(|| quote!(()), ToTokens::to_token_stream);
            quote!(<#output as ::service_runtime::IntoTaskResult>::into_task_result(#call.await))
        }
    }
}

/// `impl Type { pub fn new(params) -> Self { init } }`.
fn constructor(
    vis: &Visibility,
    ident: &Ident,
    generics: &Generics,
    params: &[TokenStream],
    init: &TokenStream,
    doc: &str,
) -> TokenStream {
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        impl #impl_generics #ident #ty_generics #where_clause {
            #[doc = #doc]
            #[must_use]
            #[allow(
                clippy::too_many_arguments,
                clippy::new_without_default,
                reason = "`new` takes every field of the service, whatever their number"
            )]
            #vis fn new(#(#params),*) -> Self {
                #init
            }
        }
    }
}

/// The `#[cfg(..)]` and `#[doc = ..]` attributes among `attrs`.
fn cfgs_and_docs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>) {
    let cfgs = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();
    let docs = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .collect();
    (cfgs, docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of errors in an expansion.
    fn errors(tokens: &TokenStream) -> usize {
        tokens.to_string().matches("compile_error").count()
    }

    fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
        service(args, item)
    }

    #[test]
    fn valid_input_has_no_errors() {
        let item = quote! {
            impl<T: Codec> Node<T> where T: Clone {
                #[task] async fn a(&self) {}
                #[daemon] async fn b(self: Arc<Self>, cx: Context) -> anyhow::Result<()> { Ok(()) }
                #[child] fn c(&self) -> Store { Store::new() }
                #[child(daemon)] fn d(&self) -> impl Service { Store::new() }
                fn helper(&mut self, x: u32) {}
            }
        };
        let tokens = expand(TokenStream::new(), item);
        assert_eq!(errors(&tokens), 0, "{tokens}");
        assert!(!tokens.to_string().contains("# [task]"));
    }

    #[test]
    fn every_mistake_in_an_impl_is_reported_once() {
        let item = quote! {
            impl Node {
                #[task] async fn a(&self) {}
                #[task] fn b(&self) {}
                #[daemon] async fn c(&self, cx: &Context) {}
                #[task] async fn d(&mut self) {}
                #[task] async fn e(&self) {}
                #[child] async fn f(&self, x: u32) {}
            }
        };
        let tokens = expand(TokenStream::new(), item);
        // `b` not async; `d` takes `&mut self`; `f` async, with a parameter, no return type.
        assert_eq!(errors(&tokens), 5, "{tokens}");
        // The impl is still emitted, without the kind attributes, with stub impls.
        let text = tokens.to_string();
        assert!(text.contains("fn e"), "{text}");
        assert!(!text.contains("# [task]"), "{text}");
        assert!(text.contains("ServiceBody"), "{text}");
    }

    #[test]
    fn restart_keys_expand_to_restarting_work() {
        let item = quote! {
            impl Node {
                #[task(restart = "on-failure", max_restarts = 5, within = "1m", backoff = "1s..2s")]
                async fn a(&self) {}
                #[daemon(restart = "always")]
                async fn b(&self) -> ! { loop {} }
                #[child(daemon, restart = "on-failure")]
                fn c(&self) -> Store { Store::new() }
                #[child(restart = "never")]
                fn d(&self) -> Store { Store::new() }
            }
        };
        let tokens = expand(TokenStream::new(), item);
        assert_eq!(errors(&tokens), 0, "{tokens}");
        let text = tokens.to_string();
        assert_eq!(text.matches("Work :: task").count(), 2, "{text}");
        assert_eq!(text.matches("Work :: child").count(), 2, "{text}");
        assert_eq!(text.matches(". restart (").count(), 3, "{text}");
        assert_eq!(text.matches(". daemon ()").count(), 2, "{text}");
        // Only the child without a restarting policy is waited for.
        assert_eq!(text.matches(". wait ()").count(), 1, "{text}");
        assert!(text.contains("never_returns"), "{text}");
    }

    #[test]
    fn every_mistake_in_restart_keys_is_reported_once() {
        let item = quote! {
            impl Node {
                #[task(max_restarts = 5, within = "1s")]
                async fn a(&self) {}
                #[daemon(restart = "never", backoff = "1s..2s")]
                async fn b(&self) {}
                #[child(restart = "sometimes", max_restarts = 2)]
                fn c(&self) -> Store { Store::new() }
                #[child(restart = "always")]
                fn d(&self) -> impl Service { Store::new() }
                #[child(restart = "always")]
                fn e(&self) -> impl Service + use<> { Store::new() }
            }
        };
        let tokens = expand(TokenStream::new(), item);
        // `a`: two keys without a policy; `b`: a key with "never"; `c`: the policy only;
        // `d`: borrows `self`.
        assert_eq!(errors(&tokens), 5, "{tokens}");
    }

    #[test]
    fn child_handles_are_kept_only_when_taken() {
        let item = quote! {
            impl Node {
                #[child] fn a(&self) -> Store { Store::new() }
                #[child(restart = "on-failure")] fn b(&self, a: ServiceHandle<Store>) -> Store { Store::new() }
                #[child] fn c(&self) -> Store { Store::new() }
                #[task] async fn d(&self, cx: &Context, b: &RestartingHandle<Store>, a: &ServiceHandle<Store>) {}
            }
        };
        let tokens = expand(TokenStream::new(), item);
        assert_eq!(errors(&tokens), 0, "{tokens}");
        let text = tokens.to_string();
        assert!(text.contains("let __child_a ="), "{text}");
        assert!(text.contains("let __child_b ="), "{text}");
        assert!(!text.contains("__child_c"), "{text}");
        assert_eq!(text.matches("into_handle").count(), 1, "{text}");
    }

    #[test]
    fn every_mistake_in_handle_parameters_is_reported() {
        let item = quote! {
            impl Node {
                #[task] async fn early(&self, store: &ServiceHandle<Store>) {}
                #[child] fn store(&self, store: &ServiceHandle<Store>, cx: &Context) -> Store { Store::new() }
                #[task] async fn late(&self, cx: &Context, again: Context, stroe: &ServiceHandle<Store>, (a, b): (u8, u8)) {}
            }
        };
        let tokens = expand(TokenStream::new(), item);
        // `early`: a child declared below; `store`: its own handle, a context; `late`: a
        // second context, an unknown child, a pattern.
        assert_eq!(errors(&tokens), 6, "{tokens}");
    }

    #[test]
    fn run_time_options() {
        let item = quote!(
            struct Node {
                id: u32,
            }
        );
        let tokens = expand(
            quote!(
                name = format!("n-{}", self.id),
                grace = self.grace,
                drain = self.drain,
                options = self.base()
            ),
            item,
        );
        assert_eq!(errors(&tokens), 0, "{tokens}");
        let text = tokens.to_string();
        assert!(text.contains("service_name (format !"), "{text}");
        assert!(
            text.contains("set_grace_to (& mut __options , self . grace)"),
            "{text}"
        );
        assert!(
            text.contains("set_drain_to (& mut __options , self . drain)"),
            "{text}"
        );
        assert!(!text.contains("__name"), "{text}");

        let item = quote!(
            async fn conn(id: u32, stream: Stream) {}
        );
        let tokens = expand(quote!(name = format!("c-{id}")), item);
        assert_eq!(errors(&tokens), 0, "{tokens}");
        let text = tokens.to_string();
        // Evaluated once, in `new`, and kept; there are no options to keep.
        assert!(text.contains("__name : :: std :: borrow :: Cow"), "{text}");
        assert!(!text.contains("__options :"), "{text}");
        assert!(text.contains("__args"), "{text}");
    }

    #[test]
    fn every_mistake_in_a_function_is_reported() {
        let item = quote! {
            fn heartbeat(&self, (a, b): (u32, u32), name: &str, cx: &Context) -> &str {}
        };
        let tokens = expand(quote!(no_new, grace = "1x"), item);
        // bad duration, `no_new`, not async, receiver, pattern, reference, context not
        // first, return type.
        assert_eq!(errors(&tokens), 8, "{tokens}");
    }

    #[test]
    fn unsupported_items_are_emitted_unchanged() {
        for item in [
            quote!(
                enum E {
                    A,
                }
            ),
            quote!(union U { a: u32 }),
            quote!(
                trait T {}
            ),
            quote!(
                mod m {}
            ),
            quote!(
                const C: u32 = 1;
            ),
            quote!(impl Trait for Node { #[task] async fn a(&self) {} }),
        ] {
            let tokens = expand(TokenStream::new(), item);
            assert_eq!(errors(&tokens), 1, "{tokens}");
            assert!(!tokens.to_string().contains("ServiceBody"), "{tokens}");
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        for (args, item) in [
            (quote!(), quote!()),
            (quote!(), quote!(struct)),
            (
                quote!(=),
                quote!(
                    struct S;
                ),
            ),
            (
                quote!(grace),
                quote!(
                    async fn f() {}
                ),
            ),
            (quote!(), quote!(impl S {})),
            (quote!(), quote!(impl S { #[child(daemon = 1, x)] fn a() })),
            (
                quote!(),
                quote!(
                    impl<'a> S<'a> {
                        #[task]
                        async fn a<T>(&self) {}
                    }
                ),
            ),
            (quote!(), quote!(impl [u8] { #[task] async fn a(&self) {} })),
            (
                quote!(),
                quote!(
                    async fn r#_x(_: u32) {}
                ),
            ),
        ] {
            let tokens = expand(args, item);
            assert!(errors(&tokens) > 0, "{tokens}");
        }
    }

    #[test]
    fn struct_names() {
        let name = |s: &str| struct_name(&syn::parse_str::<Ident>(s).unwrap()).to_string();
        assert_eq!(name("heartbeat"), "Heartbeat");
        assert_eq!(name("store_flush_2"), "StoreFlush2");
        assert_eq!(name("_private"), "Private");
        assert_eq!(name("r#type"), "Type");
        assert_eq!(name("Already"), "Already");
    }
}
