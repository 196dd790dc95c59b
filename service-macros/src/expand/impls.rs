//! `#[service] impl Node { .. }`: the impl block (kind attributes removed) and the hidden
//! `ServiceBody` impl that starts the annotated methods in declaration order, waiting for
//! each child service without a restart policy to be ready before going on.
//!
//! Each method is started by one chain of `::service_runtime::__private::Work` calls: the
//! kind (`Work::task(&__cx, "name", &__service)`, `Work::child(&__cx, &__service)`), one
//! call for each key of the attribute (`.daemon()`, `.contained()`, `.restart(policy)`),
//! then `.spawn(body_or_factory)?`. A new key is a builder method there and a fragment in
//! [`start`].

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, ItemImpl, Type, parse_quote};

use crate::ast::{self, ImplInput, Pass, Receiver, WorkMethod};
use crate::attr::{Policy, RestartArgs};

/// The expansion of a valid `#[service] impl`.
pub(crate) fn expand(input: &ImplInput) -> TokenStream {
    // The children whose handles some method takes: only those are kept in a local.
    let taken: Vec<String> = input
        .methods
        .iter()
        .flat_map(handles)
        .map(|handle| handle.child.to_string())
        .collect();
    let starts = input.methods.iter().map(|method| {
        let kept = !method.kind.is_task() && taken.contains(&method.sig.ident.unraw().to_string());
        start(method, kept)
    });
    with_body(input, &quote!(#(#starts)*))
}

/// A parameter that takes a child's handle.
struct Handle<'a> {
    /// The child's method's name.
    child: Ident,
    /// The local that holds the handle in `start_work`: `__child_store`.
    local: Ident,
    /// The parameter's type, `&ServiceHandle<Store>` or `ServiceHandle<Store>`.
    ty: &'a Type,
}

impl Handle<'_> {
    /// The argument for the parameter, spanned at its type so that a wrong one is reported
    /// there: a reference to `local`, or `local` itself (a clone of the handle).
    fn arg(&self, clone: bool) -> TokenStream {
        let local = &self.local;
        let by_ref = matches!(ast::unwrap_group(self.ty), Type::Reference(_));
        match (by_ref, clone) {
            (true, _) => quote_spanned!(self.ty.span()=> &#local),
            (false, true) => quote_spanned!(self.ty.span()=> ::core::clone::Clone::clone(&#local)),
            (false, false) => quote_spanned!(self.ty.span()=> #local),
        }
    }
}

/// The handle parameters of `method`: those that are not its context (validation made sure
/// that each is named after a child declared above it).
fn handles(method: &WorkMethod) -> Vec<Handle<'_>> {
    method
        .params
        .iter()
        .filter(|param| param.context.is_none())
        .filter_map(|param| {
            let child = param.name()?.unraw();
            Some(Handle {
                local: local(&child),
                child,
                ty: &param.arg.ty,
            })
        })
        .collect()
}

/// The local that holds the handle of the child `child`.
fn local(child: &Ident) -> Ident {
    format_ident!("__child_{}", child)
}

/// `let local = local.clone();` for each handle: what a closure that must be `'static`
/// captures, or what each of its calls moves into its future.
fn clones(handles: &[Handle<'_>]) -> TokenStream {
    let locals = handles.iter().map(|handle| &handle.local);
    quote!(#(let #locals = ::core::clone::Clone::clone(&#locals);)*)
}

/// The impl block, its `ServiceImpl` marker and a `ServiceBody` whose `start_work` runs
/// `statements` in an `async` block, where `__service: Arc<Self>` and `__cx: Context`.
pub(crate) fn with_body(input: &ImplInput, statements: &TokenStream) -> TokenStream {
    let item = &emitted_impl(input);
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let predicates = where_clause
        .into_iter()
        .flat_map(|clause| clause.predicates.iter());
    // The kind attributes were consumed by `#[service]`. Each is invoked once more, with a
    // marker that makes it expand to nothing, so that its name resolves as an attribute's
    // should: an import of it is used, and a missing one is reported as usual.
    let marker = Ident::new(super::CONSUMED, Span::call_site());
    let consumed = input.kind_paths.iter().enumerate().map(|(i, path)| {
        let function = format_ident!("__consumed_{i}");
        quote! {
            #[#path(#marker)]
            fn #function() {}
        }
    });
    quote! {
        #item

        const _: () = {
            #(#consumed)*
        };

        #[automatically_derived]
        impl #impl_generics ::service_runtime::__private::ServiceImpl for #self_ty #where_clause {}

        // Implemented only for a service that is `Send + Sync + 'static` (which its tasks
        // need); the higher-ranked bound is not an error when false, so a service that is
        // not is reported once, at its struct (see the struct's `Service` impl).
        #[automatically_derived]
        impl #impl_generics ::service_runtime::__private::ServiceBody for #self_ty
        where
            #(#predicates,)*
            for<'__service> #self_ty: ::core::marker::Send + ::core::marker::Sync + 'static
        {
            fn start_work(
                __service: ::std::sync::Arc<Self>,
                __cx: ::service_runtime::Context,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::service_runtime::BoxError>>
                   + ::core::marker::Send {
                async move {
                    #statements
                    ::core::result::Result::Ok(())
                }
            }
        }
    }
}

/// The impl block as emitted: the kind attributes removed, and lints that the DSL's
/// required forms would trigger allowed on the annotated methods.
pub(crate) fn emitted_impl(input: &ImplInput) -> ItemImpl {
    let mut item = input.item.clone();
    for method in &input.methods {
        let allow: Attribute = if method.kind.is_task() {
            parse_quote!(#[allow(clippy::unused_async, reason = "task methods are `async`, awaiting or not")])
        } else {
            parse_quote!(#[allow(clippy::unused_self, reason = "`#[child]` methods take `&self`, using it or not")])
        };
        if let Some(ImplItem::Fn(function)) = item.items.get_mut(method.index) {
            function.attrs.push(allow);
        }
    }
    item
}

/// The statement that starts `method`: one chain of `__private::Work` calls, with a call
/// for each key of its attribute. A child is `kept` when a method declared after it takes
/// its handle: the handle is then bound to its local.
fn start(method: &WorkMethod, kept: bool) -> TokenStream {
    let cfgs = &method.cfgs;
    let policy = policy(&method.restart);
    let restarting = policy.is_some();
    let daemon = method.kind.is_daemon().then(|| quote!(.daemon()));
    let contained = method.contained.then(|| quote!(.contained()));
    let restart = policy.map(|policy| quote!(.restart(#policy)));
    let keys = quote!(#daemon #contained #restart);
    let statements = if method.kind.is_task() {
        vec![start_task(method, &keys)]
    } else {
        start_child(method, &keys, restarting, kept)
    };
    // Each statement has the method's `#[cfg]`s: a kept handle's `let` is one of them.
    let statements = statements
        .iter()
        .map(|statement| quote!(#(#cfgs)* #statement));
    quote!(#(#statements)*)
}

fn start_task(method: &WorkMethod, keys: &TokenStream) -> TokenStream {
    let name = method.sig.ident.unraw().to_string();
    let body = task_body(method);
    quote! {
        ::service_runtime::__private::Work::task(&__cx, #name, &__service) #keys .spawn(#body)?;
    }
}

fn start_child(
    method: &WorkMethod,
    keys: &TokenStream,
    restarting: bool,
    kept: bool,
) -> Vec<TokenStream> {
    let call = call(method);
    // Naming the return type makes "not a service" an error at the return type; `spawn` is
    // spanned there too, or rustc would also point at the whole `#[service]` for the call.
    let spawn = match ast::return_type(&method.sig) {
        Some(ty) if !matches!(ast::unwrap_group(ty), Type::ImplTrait(_)) => {
            quote_spanned!(ty.span()=> spawn::<#ty, _>)
        }
        _ => quote!(spawn),
    };
    let handles = handles(method);
    let factory = if handles.is_empty() {
        quote!(|__service| #call(__service))
    } else if restarting {
        // Called again for each restart, so it owns clones of the handles it passes.
        let captured = clones(&handles);
        let args = handles.iter().map(|handle| handle.arg(true));
        quote!({ #captured move |__service| #call(__service, #(#args),*) })
    } else {
        let args = handles.iter().map(|handle| handle.arg(true));
        quote!(|__service| #call(__service, #(#args),*))
    };
    let start = quote! {
        ::service_runtime::__private::Work::child(&__cx, &__service) #keys
            .#spawn(#factory)?
    };
    let local = local(&method.sig.ident.unraw());
    match (restarting, kept) {
        // Restarts make a restarting child's readiness a moving target: nothing waits.
        (true, false) => vec![quote!(#start;)],
        (true, true) => vec![quote!(let #local = #start;)],
        // The work declared after the child starts once it is ready; if the child fails
        // first, its failure is the service's already, and the body stops here (a contained
        // child's failure is its own: the body goes on, as `ChildReadiness::wait` decides).
        (false, false) => vec![quote! {
            if #start.wait().await.is_break() {
                return ::core::result::Result::Ok(());
            }
        }],
        (false, true) => vec![
            quote!(let #local = #start;),
            quote! {
                if #local.wait().await.is_break() {
                    return ::core::result::Result::Ok(());
                }
            },
            quote!(let #local = #local.into_handle();),
        ],
    }
}

/// `Self::method`, spanned at the method so that rustc's errors about the call land on it.
fn call(method: &WorkMethod) -> TokenStream {
    let ident = &method.sig.ident;
    quote_spanned!(ident.span()=> Self::#ident)
}

/// The body of a task: a closure of the service and the task's context that calls the
/// method and converts its output. The closure is `'static` and called again for each
/// restart: it owns clones of the handles the method takes, and each call moves clones of
/// those into its future.
fn task_body(method: &WorkMethod) -> TokenStream {
    let receiver = if let Receiver::Arc = method.receiver {
        quote!(__service)
    } else {
        quote!(&__service)
    };
    let handles = handles(method);
    let mut cx_pattern = quote!(_);
    let args = method.params.iter().map(|param| {
        let ty = &param.arg.ty;
        match param.context {
            Some(Pass::Value) => {
                cx_pattern = quote!(__cx);
                quote_spanned!(ty.span()=> __cx)
            }
            Some(_) => {
                cx_pattern = quote!(__cx);
                quote_spanned!(ty.span()=> &__cx)
            }
            None => handles
                .iter()
                .find(|handle| std::ptr::eq(handle.ty, ty.as_ref()))
                .map(|handle| handle.arg(false))
                .unwrap_or_default(),
        }
    });
    let args: Vec<TokenStream> = std::iter::once(receiver).chain(args).collect();
    let call = call(method);
    let result = super::task_result(ast::return_type(&method.sig), &quote!(#call(#(#args),*)));
    if handles.is_empty() {
        quote!(|__service, #cx_pattern| async move { #result })
    } else {
        let captured = clones(&handles);
        quote!({
            #captured
            move |__service, #cx_pattern| {
                #captured
                async move { #result }
            }
        })
    }
}

/// The `Restart` that the restart keys describe, if they restart anything.
fn policy(restart: &RestartArgs) -> Option<TokenStream> {
    let constructor = match restart.restarting()? {
        Policy::OnFailure => quote!(on_failure),
        Policy::Always => quote!(always),
        Policy::Never => return None,
    };
    let duration = |millis: u64| quote!(::core::time::Duration::from_millis(#millis));
    let max_restarts = restart.max_restarts.as_ref().map(|keyed| {
        let n = keyed.value;
        quote!(.max_restarts(#n))
    });
    let within = restart.within.as_ref().map(|keyed| {
        let period = duration(keyed.value);
        quote!(.within(#period))
    });
    let backoff = restart.backoff.as_ref().map(|keyed| {
        let (min, max) = (duration(keyed.value.0), duration(keyed.value.1));
        quote!(.backoff(#min, #max))
    });
    Some(quote! {
        ::service_runtime::Restart::#constructor() #max_restarts #within #backoff
    })
}
