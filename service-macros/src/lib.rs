//! placeholder (the lead's temporary stubs; replaced by the real macro crate)
use proc_macro::TokenStream;
#[proc_macro_attribute]
pub fn service(_a: TokenStream, i: TokenStream) -> TokenStream { i }
#[proc_macro_attribute]
pub fn task(_a: TokenStream, i: TokenStream) -> TokenStream { i }
#[proc_macro_attribute]
pub fn daemon(_a: TokenStream, i: TokenStream) -> TokenStream { i }
#[proc_macro_attribute]
pub fn child(_a: TokenStream, i: TokenStream) -> TokenStream { i }
