//! `#[service] struct Node { .. }`: the struct, its `Service` impl and its `new`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Fields, ItemStruct};

use crate::ast::{StructInput, cfgs};

/// The expansion of a valid `#[service] struct`; also its fallback, with the options in
/// error left unset.
pub(crate) fn expand(input: &StructInput) -> TokenStream {
    let item = &input.item;
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let self_ty = quote!(#ident #ty_generics);
    let predicates = where_clause
        .into_iter()
        .flat_map(|clause| clause.predicates.iter());
    let generic = item.generics.type_params().next().is_some()
        || item.generics.const_params().next().is_some();
    // `ServiceBody` is implemented only for a service that is `Send + Sync + 'static`. For a
    // concrete type, the higher-ranked form keeps a false bound from being an error of its
    // own: the supertraits of `Service` then report a service that is not `Send + Sync`
    // once, at the struct. A generic type states the bounds, as rustc cannot prove them.
    let body_bound = if generic {
        quote!(#self_ty: ::core::marker::Send + ::core::marker::Sync + 'static + ::service_runtime::__private::ServiceBody)
    } else {
        quote!(for<'__service> #self_ty: ::service_runtime::__private::ServiceBody)
    };
    // A missing `#[service] impl` block is reported here, at the struct, when it can be: a
    // generic service is checked where it is used.
    let assert_impl = (!generic).then(
        || quote!(const _: () = ::service_runtime::__private::assert_service_impl::<#ident>();),
    );
    let service_fns =
        super::service_fns(&input.args, ident, &item.generics, super::Stored::default());
    let constructor = input.args.no_new.is_none().then(|| constructor(item));
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics ::service_runtime::__private::ServiceStruct for #self_ty #where_clause {}

        #[automatically_derived]
        impl #impl_generics ::service_runtime::Service for #self_ty
        where
            #(#predicates,)*
            #body_bound
        {
            fn serve(
                self: ::std::sync::Arc<Self>,
                __cx: ::service_runtime::Context,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::service_runtime::BoxError>>
                   + ::core::marker::Send {
                ::service_runtime::__private::serve(self, __cx)
            }

            #service_fns
        }

        #assert_impl
        #constructor
    }
}

fn constructor(item: &ItemStruct) -> TokenStream {
    let (params, init) = match &item.fields {
        Fields::Named(fields) => {
            let params = fields
                .named
                .iter()
                .map(|field| {
                    let (cfgs, name, ty) = (cfgs(&field.attrs), &field.ident, &field.ty);
                    quote!(#(#cfgs)* #name: #ty)
                })
                .collect();
            let inits = fields.named.iter().map(|field| {
                let (cfgs, name) = (cfgs(&field.attrs), &field.ident);
                quote!(#(#cfgs)* #name)
            });
            (params, quote!(Self { #(#inits),* }))
        }
        Fields::Unnamed(fields) => {
            let names: Vec<_> = (0..fields.unnamed.len())
                .map(|i| format_ident!("field{i}"))
                .collect();
            let params = fields
                .unnamed
                .iter()
                .zip(&names)
                .map(|(field, name)| {
                    let ty = &field.ty;
                    quote!(#name: #ty)
                })
                .collect();
            (params, quote!(Self(#(#names),*)))
        }
        Fields::Unit => (Vec::new(), quote!(Self)),
    };
    let doc = format!(
        "Creates the service [`{}`] from its fields, in declaration order.",
        item.ident
    );
    super::constructor(&item.vis, &item.ident, &item.generics, &params, &init, &doc)
}
