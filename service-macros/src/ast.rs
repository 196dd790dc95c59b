//! The typed model of `#[service]`'s input. It keeps the syn nodes (for spans) and
//! classifies what the rules are about (receivers, context parameters), including the
//! invalid forms, which `valid` reports.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{
    Attribute, FnArg, GenericArgument, ImplItem, Item, ItemFn, ItemImpl, ItemStruct, Pat, PatType,
    PathArguments, Signature, Type,
};

use crate::attr::{self, Kind, RestartArgs, ServiceArgs, WorkAttr};
use crate::ctxt::Errors;

/// What `#[service]` was applied to.
pub(crate) enum Input {
    /// `#[service(..)] struct Node { .. }`.
    Struct(StructInput),
    /// `#[service] impl Node { .. }` (or a trait impl, which is an error).
    Impl(ImplInput),
    /// `#[service(..)] async fn heartbeat(..)`.
    Fn(FnInput),
    /// Anything else: an error.
    Other(Box<Item>),
}

impl Input {
    /// The model of `item`; mistakes in the attributes' arguments go to `errors`.
    pub(crate) fn new(args: TokenStream, item: Item, errors: &mut Errors) -> Input {
        match item {
            Item::Struct(item) => Input::Struct(StructInput {
                args: ServiceArgs::parse(args, errors),
                item,
            }),
            Item::Impl(item) => Input::Impl(ImplInput::new(args, item, errors)),
            Item::Fn(item) => Input::Fn(FnInput::new(args, item, errors)),
            other => Input::Other(Box::new(other)),
        }
    }
}

/// `#[service(..)] struct Node { .. }`.
pub(crate) struct StructInput {
    pub(crate) item: ItemStruct,
    pub(crate) args: ServiceArgs,
}

/// `#[service] impl Node { .. }`.
pub(crate) struct ImplInput {
    /// The impl block with every kind attribute removed: what is emitted.
    pub(crate) item: ItemImpl,
    /// The arguments of `#[service(..)]`, which must be empty on an impl.
    pub(crate) args: TokenStream,
    /// The annotated methods, in declaration order.
    pub(crate) methods: Vec<WorkMethod>,
    /// Kind attributes found on items that are not methods.
    pub(crate) misplaced: Vec<Attribute>,
    /// The distinct paths the kind attributes were written with (`task`,
    /// `service_runtime::daemon`, ..), so that the expansion can use the imports of those
    /// names, which would otherwise be reported unused.
    pub(crate) kind_paths: Vec<syn::Path>,
}

impl ImplInput {
    fn new(args: TokenStream, mut item: ItemImpl, errors: &mut Errors) -> ImplInput {
        let mut methods = Vec::new();
        let mut misplaced = Vec::new();
        let mut kind_paths: Vec<syn::Path> = Vec::new();
        for (index, impl_item) in item.items.iter_mut().enumerate() {
            let attrs = match impl_item {
                ImplItem::Fn(method) => &mut method.attrs,
                ImplItem::Const(item) => &mut item.attrs,
                ImplItem::Type(item) => &mut item.attrs,
                ImplItem::Macro(item) => &mut item.attrs,
                _ => continue,
            };
            let mut kinds = Vec::new();
            attrs.retain(|attr| match attr::kind_name(attr) {
                Some(name) => {
                    let text = |path: &syn::Path| path.to_token_stream().to_string();
                    if !kind_paths
                        .iter()
                        .any(|path| text(path) == text(attr.path()))
                    {
                        kind_paths.push(attr.path().clone());
                    }
                    kinds.push((attr.clone(), name));
                    false
                }
                None => true,
            });
            let ImplItem::Fn(method) = impl_item else {
                misplaced.extend(kinds.into_iter().map(|(attr, _)| attr));
                continue;
            };
            let mut kinds = kinds.into_iter();
            let Some((attr, name)) = kinds.next() else {
                continue;
            };
            let WorkAttr {
                kind,
                contained,
                restart,
            } = attr::parse_kind(&attr, name, errors);
            methods.push(WorkMethod {
                index,
                kind,
                contained,
                restart,
                extra: kinds.map(|(attr, _)| attr).collect(),
                cfgs: cfgs(&method.attrs),
                receiver: Receiver::of(&method.sig),
                params: Param::all(&method.sig),
                sig: method.sig.clone(),
            });
        }
        ImplInput {
            item,
            args,
            methods,
            misplaced,
            kind_paths,
        }
    }
}

/// A method with a kind attribute.
pub(crate) struct WorkMethod {
    /// Its position among the items of the impl block.
    pub(crate) index: usize,
    /// What its (first) kind attribute declares.
    pub(crate) kind: Kind,
    /// Whether that attribute has `contained`: the work is a failure boundary.
    pub(crate) contained: bool,
    /// The restart keys of that attribute.
    pub(crate) restart: RestartArgs,
    /// Further kind attributes on the same method (an error).
    pub(crate) extra: Vec<Attribute>,
    pub(crate) sig: Signature,
    /// Its `#[cfg(..)]` attributes, repeated on the code that starts it.
    pub(crate) cfgs: Vec<Attribute>,
    pub(crate) receiver: Receiver,
    /// The parameters after the receiver.
    pub(crate) params: Vec<Param>,
}

/// The receiver of a method, valid or not.
pub(crate) enum Receiver {
    /// `&self`.
    Ref,
    /// `self: Arc<Self>`.
    Arc,
    /// `&mut self`.
    RefMut(syn::Receiver),
    /// `self`, `mut self`.
    Value(syn::Receiver),
    /// `self: Box<Self>` and other typed receivers.
    Other(syn::Receiver),
    /// An associated function without `self`.
    Missing,
}

impl Receiver {
    /// The receiver of `sig`.
    pub(crate) fn of(sig: &Signature) -> Receiver {
        let Some(FnArg::Receiver(receiver)) = sig.inputs.first() else {
            return Receiver::Missing;
        };
        if receiver.colon_token.is_some() {
            // `self: T`: only `&Self` and `Arc<Self>` are accepted.
            match &*receiver.ty {
                Type::Reference(r) if r.mutability.is_none() && is_self(&r.elem) => Receiver::Ref,
                ty if is_arc_self(ty) => Receiver::Arc,
                _ => Receiver::Other(receiver.clone()),
            }
        } else {
            match (&receiver.reference, &receiver.mutability) {
                (Some(_), None) => Receiver::Ref,
                (Some(_), Some(_)) => Receiver::RefMut(receiver.clone()),
                (None, _) => Receiver::Value(receiver.clone()),
            }
        }
    }
}

/// A typed parameter (not the receiver).
pub(crate) struct Param {
    pub(crate) arg: PatType,
    /// How it takes the task's `Context`, if its type is `Context`, `&Context` or
    /// `&mut Context`.
    pub(crate) context: Option<Pass>,
}

impl Param {
    /// Every typed parameter of `sig`.
    pub(crate) fn all(sig: &Signature) -> Vec<Param> {
        sig.inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(arg) => Some(Param {
                    context: context_pass(&arg.ty),
                    arg: arg.clone(),
                }),
                FnArg::Receiver(_) => None,
            })
            .collect()
    }

    /// The parameter's name, if its pattern is a plain (possibly `mut`) identifier.
    pub(crate) fn name(&self) -> Option<&syn::Ident> {
        match &*self.arg.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => Some(&pat.ident),
            _ => None,
        }
    }
}

/// How a parameter takes the `Context`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// `&Context`.
    Ref,
    /// `Context`.
    Value,
    /// `&mut Context` (an error).
    RefMut,
}

/// `#[service(..)] async fn heartbeat(..)`.
pub(crate) struct FnInput {
    pub(crate) item: ItemFn,
    pub(crate) args: ServiceArgs,
    /// Every typed parameter, the context included.
    pub(crate) params: Vec<Param>,
}

impl FnInput {
    fn new(args: TokenStream, item: ItemFn, errors: &mut Errors) -> FnInput {
        FnInput {
            args: ServiceArgs::parse(args, errors),
            params: Param::all(&item.sig),
            item,
        }
    }

    /// The parameters that become fields of the generated struct: all but a leading
    /// `Context`.
    pub(crate) fn fields(&self) -> &[Param] {
        match self.params.first() {
            Some(first) if first.context.is_some() => &self.params[1..],
            _ => &self.params,
        }
    }

    /// How the function takes its `Context`, if it does (as its first parameter).
    pub(crate) fn context(&self) -> Option<Pass> {
        self.params.first().and_then(|param| param.context)
    }
}

/// The `#[cfg(..)]` attributes among `attrs`.
pub(crate) fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .cloned()
        .collect()
}

/// The declared return type of `sig`, unless it is omitted or `()`.
pub(crate) fn return_type(sig: &Signature) -> Option<&Type> {
    match &sig.output {
        syn::ReturnType::Type(_, ty) if !is_unit(ty) => Some(ty),
        _ => None,
    }
}

fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(paren) => is_unit(&paren.elem),
        Type::Group(group) => is_unit(&group.elem),
        _ => false,
    }
}

/// `Self`.
fn is_self(ty: &Type) -> bool {
    matches!(unwrap_group(ty), Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// `Arc<Self>`, by any path (`Arc`, `std::sync::Arc`, ..).
fn is_arc_self(ty: &Type) -> bool {
    let Type::Path(path) = unwrap_group(ty) else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Arc"
        && args.args.len() == 1
        && matches!(&args.args[0], GenericArgument::Type(inner) if is_self(inner))
}

/// How a parameter of type `ty` takes the `Context`, recognised by the last segment of
/// the type's path (`Context`, `service_runtime::Context`), if it does.
fn context_pass(ty: &Type) -> Option<Pass> {
    match unwrap_group(ty) {
        Type::Reference(r) if is_context(&r.elem) => Some(if r.mutability.is_some() {
            Pass::RefMut
        } else {
            Pass::Ref
        }),
        ty if is_context(ty) => Some(Pass::Value),
        _ => None,
    }
}

fn is_context(ty: &Type) -> bool {
    matches!(unwrap_group(ty), Type::Path(p)
        if p.qself.is_none()
            && p.path.segments.last().is_some_and(|last| last.ident == "Context" && last.arguments.is_none()))
}

/// `ty` without the invisible groups `macro_rules!` wraps `$t:ty` in, and without parens.
pub(crate) fn unwrap_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => unwrap_group(&group.elem),
        Type::Paren(paren) => unwrap_group(&paren.elem),
        ty => ty,
    }
}
