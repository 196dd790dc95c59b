//! Every semantic rule of the DSL, in one place. Each violation is recorded at the tokens
//! at fault with what to write instead; checking goes on after a violation, so that all
//! mistakes are reported in one compile.

use proc_macro2::{Span, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{GenericParam, Generics, Item, Signature, Type};

use crate::ast::{self, FnInput, ImplInput, Input, Param, Pass, Receiver, StructInput, WorkMethod};
use crate::attr::{Keyed, Policy, RestartArgs};
use crate::ctxt::Errors;

/// Records every rule `input` breaks.
pub(crate) fn check(input: &Input, errors: &mut Errors) {
    match input {
        Input::Struct(input) => check_struct(input, errors),
        Input::Impl(input) => check_impl(input, errors),
        Input::Fn(input) => check_fn(input, errors),
        Input::Other(item) => unsupported(item, errors),
    }
}

fn unsupported(item: &Item, errors: &mut Errors) {
    let (keyword, what): (&dyn ToTokens, &str) = match item {
        Item::Enum(item) => (&item.enum_token, "an enum"),
        Item::Union(item) => (&item.union_token, "a union"),
        Item::Trait(item) => (&item.trait_token, "a trait"),
        _ => {
            errors.at(
                Span::call_site(),
                "`#[service]` applies to a struct, to the struct's inherent `impl` block, or to an `async fn`",
            );
            return;
        }
    };
    errors.spanned(
        keyword,
        format!(
            "`#[service]` cannot be applied to {what}; declare the service as a struct, \
             `#[service] struct Node {{ .. }}`, with a `#[service] impl Node {{ .. }}` block"
        ),
    );
}

fn check_struct(input: &StructInput, errors: &mut Errors) {
    no_lifetimes(&input.item.generics, errors);
}

fn check_impl(input: &ImplInput, errors: &mut Errors) {
    let item = &input.item;
    if !input.args.is_empty() {
        errors.spanned(
            &input.args,
            "`#[service]` on an `impl` block takes no options; options such as `grace` go on the struct's `#[service(..)]`",
        );
    }
    if let Some((_, path, _)) = &item.trait_ {
        let name = path
            .segments
            .last()
            .map_or_else(String::new, |last| last.ident.to_string());
        errors.spanned(
            path,
            format!(
                "`#[service]` goes on the service's inherent `impl` block (`impl Node {{ .. }}`), not on a trait impl; \
                 to implement `{name}` by hand, remove `#[service]`"
            ),
        );
    }
    no_lifetimes(&item.generics, errors);
    if !matches!(ast::unwrap_group(&item.self_ty), Type::Path(_)) {
        errors.spanned(
            &item.self_ty,
            "`#[service]` needs the `impl` block of a struct, like `impl Node { .. }`",
        );
    }
    for attr in &input.misplaced {
        errors.spanned(attr, "this attribute applies to methods only");
    }
    if input.methods.is_empty() && input.misplaced.is_empty() && item.trait_.is_none() {
        let impl_token = &item.impl_token;
        let self_ty = &item.self_ty;
        errors.spanned(
            quote!(#impl_token #self_ty),
            "this `#[service] impl` has no `#[task]`, `#[daemon]` or `#[child]` method; \
             annotate the methods that make up the service, like `#[task] async fn run(&self) { .. }`",
        );
    }
    let children: Vec<String> = input
        .methods
        .iter()
        .filter(|method| !method.kind.is_task())
        .map(|method| method.sig.ident.unraw().to_string())
        .collect();
    let mut declared = 0;
    for method in &input.methods {
        let children = Children {
            above: &children[..declared],
            all: &children,
        };
        check_method(method, &children, errors);
        if !method.kind.is_task() {
            declared += 1;
        }
    }
}

/// The `#[child]` methods of an impl block, by name: those declared above the method being
/// checked (whose handles it may take), and all of them.
struct Children<'a> {
    above: &'a [String],
    all: &'a [String],
}

fn check_method(method: &WorkMethod, children: &Children<'_>, errors: &mut Errors) {
    let attr = method.kind.attr();
    for extra in &method.extra {
        errors.spanned(
            extra,
            "a method can have only one of `#[task]`, `#[daemon]` and `#[child]`; remove this attribute",
        );
    }
    let sig = &method.sig;
    not_unsafe_nor_generic(sig, attr, errors);
    restart_keys(&method.restart, errors);
    if method.kind.is_task() {
        check_task(method, children, errors);
    } else {
        check_child(method, children, errors);
    }
}

fn check_task(method: &WorkMethod, children: &Children<'_>, errors: &mut Errors) {
    let sig = &method.sig;
    let attr = method.kind.attr();
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format!(
                "`{attr}` methods must be `async`; write `async fn {}`",
                sig.ident
            ),
        );
    }
    let receivers = "`&self` or `self: Arc<Self>`";
    match &method.receiver {
        Receiver::Ref | Receiver::Arc => {}
        Receiver::RefMut(receiver) => errors.spanned(
            receiver,
            "tasks share their service, so they cannot take `&mut self`; \
             use `&self` (with a `Mutex` or atomics for state that changes) or `self: Arc<Self>`",
        ),
        Receiver::Value(receiver) => errors.spanned(
            receiver,
            format!("tasks share their service, so they cannot take it by value; use {receivers}"),
        ),
        Receiver::Other(receiver) => {
            errors.spanned(
                receiver,
                format!("unsupported receiver for `{attr}`; use {receivers}"),
            );
        }
        Receiver::Missing => errors.at(
            sig.paren_token.span.join(),
            format!("`{attr}` methods need a receiver; add {receivers} as the first parameter"),
        ),
    }
    let mut context = None;
    for param in &method.params {
        if param.context.is_none() {
            handle_param(method, param, children, errors);
        } else if context.is_some() {
            errors.spanned(
                &param.arg,
                "a task method takes its `Context` once; remove this parameter",
            );
        } else {
            context_param(param, "", errors);
            context = Some(param);
        }
    }
    task_return_type(sig, &format!("`{attr}` methods"), errors);
}

fn check_child(method: &WorkMethod, children: &Children<'_>, errors: &mut Errors) {
    let sig = &method.sig;
    let attr = method.kind.attr();
    if let Some(asyncness) = sig.asyncness {
        errors.spanned(
            asyncness,
            format!("`{attr}` methods must not be `async`: they build the child service, which the runtime then starts; remove `async`"),
        );
    }
    match &method.receiver {
        Receiver::Ref => {}
        Receiver::Arc => {
            errors.spanned(sig.inputs.first(), format!("`{attr}` methods take `&self`"))
        }
        Receiver::RefMut(receiver) | Receiver::Value(receiver) | Receiver::Other(receiver) => {
            errors.spanned(receiver, format!("`{attr}` methods take `&self`"));
        }
        Receiver::Missing => errors.at(
            sig.paren_token.span.join(),
            format!("`{attr}` methods need a receiver; add `&self` as the only parameter"),
        ),
    }
    for param in &method.params {
        if param.context.is_some() {
            errors.spanned(
                &param.arg,
                format!(
                    "`{attr}` methods take no `Context`: they build the child, which the runtime then starts; \
                     remove this parameter"
                ),
            );
        } else {
            handle_param(method, param, children, errors);
        }
    }
    if let Some(ty) = ast::return_type(sig)
        && method.restart.restarting().is_some()
        && borrows_self(ty)
    {
        errors.spanned(
            ty,
            "a restarting `#[child]` method is called again for each restart, so the service it \
             returns cannot borrow `&self`; name its type, like `-> Store`, or write \
             `-> impl Service + use<>` (listing the impl's type parameters in `use<..>`)",
        );
    }
    if ast::return_type(sig).is_none() {
        let message = format!(
            "`{attr}` methods must return the child service, like `fn {}(&self) -> Store`",
            sig.ident
        );
        match &sig.output {
            syn::ReturnType::Type(arrow, ty) => errors.spanned(quote!(#arrow #ty), message),
            syn::ReturnType::Default => errors.at(sig.paren_token.span.close(), message),
        }
    }
}

/// A parameter of `method` besides the receiver and the context: the handle of a child
/// declared above it, named after the child's method.
fn handle_param(method: &WorkMethod, param: &Param, children: &Children<'_>, errors: &mut Errors) {
    let this = method.sig.ident.unraw().to_string();
    let Some(name) = param.name() else {
        errors.spanned(
            &param.arg.pat,
            "expected a parameter name: besides the receiver and the context, a method takes \
             the handles of `#[child]` children, each named after its child's method",
        );
        return;
    };
    let name_text = name.unraw().to_string();
    if children.above.contains(&name_text) {
        return;
    }
    let message = if name_text == this && !method.kind.is_task() {
        format!(
            "a `#[child]` method cannot take the handle of its own child, which it builds; remove `{name}`"
        )
    } else if children.all.contains(&name_text) {
        format!(
            "the child `{name}` is declared after `{this}`, so it is not started yet when `{this}` is: \
             work starts in declaration order; move `#[child] fn {name}` above `{this}`"
        )
    } else {
        let (takes, otherwise) = if method.kind.is_task() {
            (
                "a task method takes the receiver, optionally `cx: &Context`,",
                "read other inputs from the service's fields",
            )
        } else {
            (
                "a `#[child]` method takes `&self`",
                "build the child from the service's fields",
            )
        };
        let above = if children.above.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = children
                .above
                .iter()
                .map(|name| format!("`{name}`"))
                .collect();
            format!(" (declared above: {})", names.join(", "))
        };
        format!(
            "`{name}` is not a child declared above `{this}`: {takes} and the handles of children \
             declared above it{above}, each named after its `#[child]` method, like \
             `store: &ServiceHandle<Store>`; {otherwise}"
        )
    };
    errors.spanned(name, message);
}

/// Whether `ty` is an `impl Trait` that captures the lifetime of `&self` (edition 2024
/// captures every lifetime in scope unless a `use<..>` bound without lifetimes says
/// otherwise): its type is then a different one for each borrow, which a factory called
/// again for each restart cannot return.
fn borrows_self(ty: &Type) -> bool {
    let Type::ImplTrait(impl_trait) = ast::unwrap_group(ty) else {
        return false;
    };
    !impl_trait.bounds.iter().any(|bound| {
        let mut tokens = bound.to_token_stream().into_iter();
        let starts_with_use =
            matches!(tokens.next(), Some(TokenTree::Ident(ident)) if ident == "use");
        starts_with_use
            && !tokens
                .any(|token| matches!(token, TokenTree::Punct(punct) if punct.as_char() == '\''))
    })
}

/// The keys that tune a restart policy need one that restarts.
fn restart_keys(restart: &RestartArgs, errors: &mut Errors) {
    let policy = match &restart.policy {
        // An invalid policy is reported already.
        Some(Keyed { value: None, .. }) => return,
        Some(Keyed {
            value: Some(policy),
            ..
        }) => Some(*policy),
        None => None,
    };
    for key in restart.modifiers() {
        match policy {
            None => errors.spanned(
                key,
                format!("`{key}` needs a restart policy; add `restart = \"on-failure\"`"),
            ),
            Some(Policy::Never) => errors.spanned(
                key,
                format!(
                    "`{key}` needs a restart policy, but `restart = \"never\"` never restarts; \
                     write `restart = \"on-failure\"` or `restart = \"always\"`"
                ),
            ),
            Some(Policy::OnFailure | Policy::Always) => {}
        }
    }
}

/// The context parameter of a task method or `#[service]` function.
fn context_param(param: &Param, otherwise: &str, errors: &mut Errors) {
    match param.context {
        Some(Pass::Ref | Pass::Value) => {}
        Some(Pass::RefMut) => errors.spanned(
            &param.arg.ty,
            "expected `&Context` or `Context`, found `&mut Context`; take the context as `cx: &Context`",
        ),
        None => errors.spanned(
            &param.arg.ty,
            format!("expected `&Context` or `Context`: {otherwise}"),
        ),
    }
}

/// The return type of a task method or `#[service]` function: `()`, `!` or a path (such as
/// `Result<(), E>` or an alias of it, checked by the compiler through `IntoTaskResult`).
fn task_return_type(sig: &Signature, what: &str, errors: &mut Errors) {
    if let Some(ty) = ast::return_type(sig)
        && !matches!(ast::unwrap_group(ty), Type::Path(_) | Type::Never(_))
    {
        errors.spanned(
            ty,
            format!(
                "{what} must return `()` or `Result<(), E>` where `E: Into<BoxError>` (or `!` if they never return)"
            ),
        );
    }
}

fn not_unsafe_nor_generic(sig: &Signature, what: &str, errors: &mut Errors) {
    if let Some(unsafety) = sig.unsafety {
        errors.spanned(unsafety, format!("`{what}` methods cannot be `unsafe`"));
    }
    let params: Vec<&GenericParam> = sig
        .generics
        .params
        .iter()
        .filter(|param| !matches!(param, GenericParam::Lifetime(_)))
        .collect();
    if !params.is_empty() {
        errors.spanned(
            quote!(#(#params)*),
            format!("`{what}` methods cannot have type or const parameters: nothing would choose them when the service starts"),
        );
    }
}

fn no_lifetimes(generics: &Generics, errors: &mut Errors) {
    for lifetime in generics.lifetimes() {
        errors.spanned(
            lifetime,
            "a service cannot have lifetime parameters: it runs in tasks of its own, so it must be `'static`; \
             own the data instead (for example with `String` or `Arc<T>`)",
        );
    }
}

fn check_fn(input: &FnInput, errors: &mut Errors) {
    let sig = &input.item.sig;
    let name = &sig.ident;
    let struct_name = crate::expand::struct_name(name);
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format!("`#[service]` on a function needs an `async fn`; write `async fn {name}`"),
        );
    }
    if let Some(unsafety) = sig.unsafety {
        errors.spanned(unsafety, "a `#[service]` function cannot be `unsafe`");
    }
    if let Some(syn::FnArg::Receiver(receiver)) = sig.inputs.first() {
        errors.spanned(
            receiver,
            "`#[service]` makes a service of a free function, not of a method; \
             for methods, use `#[task]` in a `#[service] impl` block",
        );
    }
    no_lifetimes(&sig.generics, errors);
    if let Some(no_new) = &input.args.no_new {
        errors.spanned(
            no_new,
            "`no_new` applies to `#[service]` structs; a `#[service]` function always gets `new`",
        );
    }
    if let Some(first) = input.params.first().filter(|first| first.context.is_some()) {
        context_param(first, "", errors);
    }
    for param in input.fields() {
        if param.context.is_some() {
            errors.spanned(
                &param.arg.ty,
                format!(
                    "the `Context` parameter must come first: `async fn {name}(cx: &Context, ..)`"
                ),
            );
        } else if param.name().is_none() {
            errors.spanned(
                &param.arg.pat,
                format!("expected a parameter name: the parameters of a `#[service]` function become the fields of `{struct_name}`"),
            );
        }
        match ast::unwrap_group(&param.arg.ty) {
            _ if param.context.is_some() => {}
            Type::Reference(_) => errors.spanned(
                &param.arg.ty,
                format!(
                    "a `#[service]` function cannot take references: its arguments are kept by `{struct_name}` \
                     until the service runs; take an owned type (such as `String` or `Arc<T>`)"
                ),
            ),
            Type::ImplTrait(_) => errors.spanned(
                &param.arg.ty,
                "`impl Trait` parameters cannot be stored in the service's struct; use a type parameter, `<T: Trait>`",
            ),
            _ => {}
        }
    }
    task_return_type(sig, "`#[service]` functions", errors);
}
