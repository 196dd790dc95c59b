//! Generic services: type and const parameters, bounds, where-clauses, defaults.

use std::fmt::Debug;

use service_runtime::prelude::*;
use service_tests::guard;
use tokio::sync::mpsc;

trait Codec: Send + Sync + 'static {
    fn encode(&self, value: u32) -> String;
}

struct Decimal;

impl Codec for Decimal {
    fn encode(&self, value: u32) -> String {
        value.to_string()
    }
}

struct Hex;

impl Codec for Hex {
    fn encode(&self, value: u32) -> String {
        format!("{value:#x}")
    }
}

#[service]
struct Encoder<C, const N: u32>
where
    C: Codec,
{
    codec: C,
    out: mpsc::UnboundedSender<String>,
}

#[service]
impl<C: Codec, const N: u32> Encoder<C, N>
where
    C: Codec,
{
    #[task]
    async fn encode(&self) {
        self.out.send(self.codec.encode(N)).unwrap();
    }

    #[child]
    fn nested(&self) -> Wrapper<u8> {
        Wrapper::new(7)
    }
}

#[service]
struct Wrapper<T: Debug + Send + Sync + 'static> {
    value: T,
}

#[service]
impl<T> Wrapper<T>
where
    T: Debug + Send + Sync + 'static,
{
    #[task]
    async fn show(&self, cx: &Context) -> Result<(), String> {
        let shown = format!("{:?}", self.value);
        let paths = [
            "Encoder<Decimal, 255>/Wrapper<u8>/show",
            "Encoder<Hex, 255>/Wrapper<u8>/show",
        ];
        if shown == "7" && paths.contains(&cx.path()) {
            Ok(())
        } else {
            Err(format!("{shown} at {}", cx.path()))
        }
    }
}

/// Generic services run like any other, one instance per set of type arguments; they are
/// named as by `Service::name`'s default, with the type arguments.
#[tokio::test]
async fn generic_services_run() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let decimal = Encoder::<_, 255>::new(Decimal, tx.clone());
    assert_eq!(decimal.name(), "Encoder<Decimal, 255>");
    guard(decimal.run()).await.unwrap();
    guard(Encoder::<_, 255>::new(Hex, tx).run()).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), "255");
    assert_eq!(rx.recv().await.unwrap(), "0xff");
}
