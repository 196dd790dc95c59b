// A generic service, with bounds on the struct, on the impl and in where-clauses.
use std::fmt::Debug;
use std::marker::PhantomData;

use service_runtime::prelude::*;

trait Codec: Send + Sync + 'static {
    fn encode(&self) -> String;
}

struct Json;

impl Codec for Json {
    fn encode(&self) -> String {
        "{}".to_owned()
    }
}

#[service(grace = "1s")]
struct Node<C, T = ()>
where
    T: Debug,
{
    codec: C,
    marker: PhantomData<fn() -> T>,
}

#[service]
impl<C: Codec, T> Node<C, T>
where
    T: Debug + Send + 'static,
{
    #[task]
    async fn announce(&self, cx: &Context) -> Result<(), BoxError> {
        assert_eq!(cx.path(), "Node<Json, u8>/announce");
        assert_eq!(self.codec.encode(), "{}");
        Ok(())
    }
}

#[service]
struct Buffer<const N: usize>;

#[service]
impl<const N: usize> Buffer<N> {
    #[task]
    async fn fill(&self) {
        let _ = [0u8; N];
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Node::<Json, u8>::new(Json, PhantomData)
        .run()
        .await
        .unwrap();
    Buffer::<4>::new().run().await.unwrap();
}
