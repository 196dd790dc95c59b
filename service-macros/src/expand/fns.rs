//! `#[service] async fn heartbeat(cx: &Context, period: Duration)`: the function, and a
//! struct `Heartbeat` whose `Service` impl calls it.
//!
//! The struct keeps the arguments given to `new` in one take-once slot
//! (`__private::Args<(Duration,)>`), and `serve` moves them into the call: a service runs at
//! most once, so its arguments need not be `Clone` and the function may consume them (a
//! `TcpStream`). A run-time `name = ..` or option is evaluated once, in `new`, with the
//! arguments in scope by reference, and kept in a hidden field (`__name`, `__options`) only
//! then.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse_quote;

use super::Stored;
use crate::ast::{self, FnInput, Pass};

/// The expansion of a valid `#[service] async fn`.
pub(crate) fn expand(input: &FnInput) -> TokenStream {
    let item = &input.item;
    let function = &item.sig.ident;
    let cx_arg = match input.context() {
        Some(Pass::Value) => Some(quote!(__cx)),
        Some(_) => Some(quote!(&__cx)),
        None => None,
    };
    let locals: Vec<_> = (0..field_count(input))
        .map(|i| format_ident!("__arg{i}"))
        .collect();
    let args = cx_arg
        .into_iter()
        .chain(locals.iter().map(|local| quote!(#local)));
    let result = super::task_result(ast::return_type(&item.sig), &quote!(#function(#(#args),*)));
    let body = quote! {
        let __args = self.__args.take();
        async move {
            let ::core::option::Option::Some((#(#locals,)*)) = __args else {
                return ::core::result::Result::Err(::service_runtime::__private::already_run());
            };
            #result
        }
    };
    let generated = service_struct(input, &body);
    let mut item = item.clone();
    item.attrs.push(parse_quote!(
        #[allow(clippy::unused_async, reason = "service functions are `async`, awaiting or not")]
    ));
    quote! {
        #item
        #generated
    }
}

/// How many parameters become arguments kept by the struct.
fn field_count(input: &FnInput) -> usize {
    input
        .fields()
        .iter()
        .filter(|param| param.name().is_some())
        .count()
}

/// The struct, its `new`, `Debug` and `Service` impls, with `serve` returning `body`
/// (which may use `self: Arc<Self>` and `__cx: Context`). Called only when the parameters
/// can be fields (plain names, owned types): valid input's can, and `fallback` checks those
/// of input with mistakes first.
pub(crate) fn service_struct(input: &FnInput, body: &TokenStream) -> TokenStream {
    let item = &input.item;
    let vis = &item.vis;
    let generics = &item.sig.generics;
    let ident = super::struct_name(&item.sig.ident);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let predicates = where_clause
        .into_iter()
        .flat_map(|clause| clause.predicates.iter());
    let type_params = generics.type_params().map(|param| &param.ident);
    let (cfgs, docs) = super::cfgs_and_docs(&item.attrs);
    let default_doc = docs.is_empty().then(|| {
        let doc = format!("The service made of the function `{}`.", item.sig.ident);
        quote!(#[doc = #doc])
    });
    let (names, tys): (Vec<_>, Vec<_>) = input
        .fields()
        .iter()
        .filter_map(|param| Some((param.name()?, &param.arg.ty)))
        .unzip();
    let params: Vec<TokenStream> = names
        .iter()
        .zip(&tys)
        .map(|(name, ty)| quote!(#name: #ty))
        .collect();

    // Run-time name and options: evaluated here, seeing the arguments by reference.
    let stored = Stored {
        name: super::name_expr(&input.args).is_some(),
        options: input.args.option_exprs().next().is_some(),
    };
    let borrow = quote! {
        #[allow(unused_variables, reason = "the expression may use any of the arguments")]
        let (#(#names,)*) = (#(&#names,)*);
    };
    let name_field = stored.name.then(|| {
        let name = super::name_expr(&input.args);
        (
            quote!(__name: ::std::borrow::Cow<'static, str>,),
            quote!(let __name = { #borrow #name };),
            quote!(__name,),
        )
    });
    let options_field = stored.options.then(|| {
        let options = super::options_expr(&input.args);
        (
            quote!(__options: ::service_runtime::Options,),
            quote!(let __options = { #borrow #options };),
            quote!(__options,),
        )
    });
    let (extra_fields, extra_lets, extra_inits): (Vec<_>, Vec<_>, Vec<_>) = name_field
        .into_iter()
        .chain(options_field)
        .fold((vec![], vec![], vec![]), |mut acc, (field, value, init)| {
            acc.0.push(field);
            acc.1.push(value);
            acc.2.push(init);
            acc
        });
    let doc = format!(
        "Creates the service [`{ident}`], which runs `{}` with these arguments.",
        item.sig.ident
    );
    let constructor = super::constructor(
        vis,
        &ident,
        generics,
        &params,
        &quote! {
            #(#extra_lets)*
            Self {
                __args: ::service_runtime::__private::Args::new((#(#names,)*)),
                #(#extra_inits)*
            }
        },
        &doc,
    );
    let name = ident.to_string();
    let service_fns = super::service_fns(&input.args, &ident, generics, stored);
    quote! {
        #(#cfgs)*
        #(#docs)*
        #default_doc
        #vis struct #ident #generics #where_clause {
            __args: ::service_runtime::__private::Args<(#(#tys,)*)>,
            #(#extra_fields)*
        }

        #(#cfgs)*
        #constructor

        #(#cfgs)*
        #[automatically_derived]
        impl #impl_generics ::core::fmt::Debug for #ident #ty_generics #where_clause {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(#name).finish_non_exhaustive()
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #impl_generics ::service_runtime::Service for #ident #ty_generics
        where
            #(#predicates,)*
            #(#type_params: ::core::marker::Send + ::core::marker::Sync + 'static,)*
        {
            fn serve(
                self: ::std::sync::Arc<Self>,
                __cx: ::service_runtime::Context,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::service_runtime::BoxError>>
                   + ::core::marker::Send {
                #body
            }

            #service_fns
        }
    }
}
