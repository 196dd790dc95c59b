//! `#[service] async fn heartbeat(cx: &Context, period: Duration)`: the function, and a
//! struct `Heartbeat { period }` whose `Service` impl calls it.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse_quote;

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
    // Each run gets its own copy of the parameters: the service is shared (`Arc<Self>`).
    // The type is named so that a parameter that is not `Clone` is reported at its type.
    let field_args = input.fields().iter().filter_map(|param| {
        let (name, ty) = (param.name()?, &param.arg.ty);
        Some(quote!(<#ty as ::core::clone::Clone>::clone(&self.#name)))
    });
    let args = cx_arg.into_iter().chain(field_args);
    let result = super::task_result(ast::return_type(&item.sig), &quote!(#function(#(#args),*)));
    let body = quote! {
        async move { #result }
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
    let doc = format!(
        "Creates the service [`{ident}`], which runs `{}` with these arguments.",
        item.sig.ident
    );
    let constructor = super::constructor(
        vis,
        &ident,
        generics,
        &params,
        &quote!(Self { #(#names),* }),
        &doc,
    );
    let name = ident.to_string();
    let service_fns = super::service_fns(&input.args, &ident, generics);
    quote! {
        #(#cfgs)*
        #(#docs)*
        #default_doc
        #vis struct #ident #generics #where_clause {
            #(#names: #tys,)*
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
