//! What is emitted when the input has mistakes: the errors, the user's items (with the
//! kind attributes removed, so that they do not report errors of their own), and stub impls
//! wherever they can be written, so that one mistake does not cascade into "trait not
//! implemented" or "cannot find type" errors elsewhere.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Type;

use crate::ast::{self, FnInput, ImplInput, Input, StructInput};
use crate::expand::{fns, impls, structs};

/// Input that is not an item at all: the error, and the tokens as they came.
pub(crate) fn unparsed(error: &syn::Error, item: TokenStream) -> TokenStream {
    let mut tokens = error.to_compile_error();
    tokens.extend(item);
    tokens
}

/// `input` had the mistakes in `error`.
pub(crate) fn service(input: &Input, error: &syn::Error) -> TokenStream {
    let items = match input {
        Input::Struct(input) => struct_items(input),
        Input::Impl(input) => impl_items(input),
        Input::Fn(input) => fn_items(input),
        Input::Other(item) => item.to_token_stream(),
    };
    let errors = error.to_compile_error();
    quote!(#errors #items)
}

fn struct_items(input: &StructInput) -> TokenStream {
    if input.item.generics.lifetimes().next().is_some() {
        return input.item.to_token_stream();
    }
    // The options in error are unset: the expansion is valid as it is.
    structs::expand(input)
}

fn impl_items(input: &ImplInput) -> TokenStream {
    let item = &input.item;
    let stubs_fit = item.trait_.is_none()
        && item.generics.lifetimes().next().is_none()
        && matches!(ast::unwrap_group(&item.self_ty), Type::Path(_));
    if !stubs_fit {
        return impls::emitted_impl(input).to_token_stream();
    }
    // A body that starts nothing.
    let statements = quote! {
        let _ = (__service, __cx);
    };
    impls::with_body(input, &statements)
}

fn fn_items(input: &FnInput) -> TokenStream {
    let item = &input.item;
    // The stub `serve` does not call the function.
    let function = quote! {
        #[allow(dead_code)]
        #item
    };
    let fields_fit = !matches!(item.sig.inputs.first(), Some(syn::FnArg::Receiver(_)))
        && item.sig.generics.lifetimes().next().is_none()
        && input.fields().iter().all(|param| {
            param.context.is_none()
                && param.name().is_some()
                && !matches!(
                    ast::unwrap_group(&param.arg.ty),
                    Type::Reference(_) | Type::ImplTrait(_)
                )
        });
    if !fields_fit {
        return function;
    }
    let body = quote! {
        let _ = (self, __cx);
        async { ::core::result::Result::Ok(()) }
    };
    let generated = fns::service_struct(input, &body);
    quote! {
        #function
        #generated
    }
}
