//! The expansions are lint-clean and hygienic: this module denies warnings, unnecessary
//! qualifications and clippy's pedantic lints (checked by `cargo clippy --all-targets`),
//! and shadows the names generated code could be tempted to use unqualified. Every form of
//! the DSL is expanded here.

#![deny(warnings, unused_qualifications, clippy::pedantic)]

use service_runtime::{child, daemon, service, task};

// Decoys: generated code must name these by absolute path.
mod core {}
mod std {}
#[allow(dead_code, reason = "decoy")]
struct Result;
#[allow(dead_code, reason = "decoy")]
struct Arc;
#[allow(dead_code, reason = "decoy")]
struct Context;
#[allow(dead_code, reason = "decoy")]
struct Box;
#[allow(dead_code, reason = "decoy")]
struct Option;
#[allow(dead_code, reason = "decoy")]
struct Future;
#[allow(dead_code, reason = "decoy")]
struct Send;
#[allow(dead_code, reason = "decoy")]
struct Cow;
#[allow(dead_code, reason = "decoy")]
struct Service;
#[allow(dead_code, reason = "decoy")]
struct BoxError;
#[allow(dead_code, reason = "decoy")]
trait Clone {}

type Outcome = ::core::result::Result<(), service_runtime::BoxError>;

#[service(name = "lint-node", grace = "10ms", drain = "10ms", max_children = 100)]
struct Node {
    first: u8,
    second: u16,
    third: u32,
    fourth: u64,
    fifth: i8,
    sixth: i16,
    seventh: i32,
    eighth: i64,
}

#[service]
impl Node {
    #[task]
    async fn sum(&self, cx: &service_runtime::Context) -> Outcome {
        let total = i128::from(self.first)
            + i128::from(self.second)
            + i128::from(self.third)
            + i128::from(self.fourth)
            + i128::from(self.fifth)
            + i128::from(self.sixth)
            + i128::from(self.seventh)
            + i128::from(self.eighth);
        cx.run_task("check", move |_cx| async move { assert_eq!(total, 36) })?;
        tokio::task::yield_now().await;
        ::core::result::Result::Ok(())
    }

    #[daemon]
    async fn listen(self: ::std::sync::Arc<Self>, cx: service_runtime::Context) {
        cx.cancelled().await;
    }

    #[child]
    fn unit(&self) -> Unit {
        Unit::new(self.first)
    }

    #[child(daemon)]
    fn tuple(&self) -> Tuple<u8> {
        Tuple::new(self.first)
    }

    #[service_runtime::task]
    async fn beat(&self) -> anyhow::Result<()> {
        tokio::task::yield_now().await;
        ::core::result::Result::Ok(())
    }
}

#[service]
struct Unit(u8);

#[service]
impl Unit {
    #[task]
    async fn noop(&self, cx: &service_runtime::Context) {
        let _ = (cx.path(), self.0);
        tokio::task::yield_now().await;
    }
}

#[service]
struct Tuple<T: ::core::fmt::Debug + ::core::marker::Send + ::core::marker::Sync + 'static>(T);

#[service]
impl<T> Tuple<T>
where
    T: ::core::fmt::Debug + ::core::marker::Send + ::core::marker::Sync + 'static,
{
    #[daemon]
    async fn hold(&self, cx: &service_runtime::Context) {
        let _ = format!("{:?}", self.0);
        cx.cancelled().await;
    }
}

/// Every restart key, `contained` and `manual_ready`, tasks that never return, children of
/// an opaque type.
#[service(manual_ready)]
struct Supervised;

#[service]
impl Supervised {
    #[task(
        restart = "on-failure",
        max_restarts = 5,
        within = "60s",
        backoff = "100ms..10s"
    )]
    async fn flaky(self: ::std::sync::Arc<Self>, cx: service_runtime::Context) -> Outcome {
        cx.ready();
        ::core::result::Result::Ok(())
    }

    #[daemon(restart = "always")]
    async fn forever(&self) -> ! {
        loop {
            ::core::future::pending::<()>().await;
        }
    }

    #[child(daemon, restart = "on-failure", backoff = "1s..1m")]
    fn unit(&self) -> Unit {
        Unit::new(1)
    }

    #[child(restart = "never")]
    fn tuple(&self) -> Tuple<u8> {
        Tuple::new(2)
    }

    #[child]
    fn opaque(&self) -> impl service_runtime::Service {
        Unit::new(3)
    }

    #[task(contained)]
    async fn guarded(self: ::std::sync::Arc<Self>, cx: service_runtime::Context) -> Outcome {
        let _ = cx.path();
        ::core::result::Result::Ok(())
    }

    #[daemon(contained, restart = "on-failure", max_restarts = 2)]
    async fn watch(&self, cx: &service_runtime::Context) {
        cx.cancelled().await;
    }

    #[child(contained)]
    fn opaque_contained(&self) -> impl service_runtime::Service {
        Unit::new(4)
    }

    #[child(daemon, contained, restart = "always")]
    fn tuple_contained(&self) -> Tuple<u8> {
        Tuple::new(5)
    }
}

#[service(manual_ready)]
async fn endless(cx: &service_runtime::Context) -> ! {
    cx.ready();
    loop {
        ::core::future::pending::<()>().await;
    }
}

/// A service function with every kind of parameter.
#[service(grace = "1s")]
async fn ticker(
    cx: service_runtime::Context,
    period: ::core::time::Duration,
    label: String,
) -> Outcome {
    let _ = (cx.path(), label.len());
    tokio::time::sleep(period).await;
    ::core::result::Result::Ok(())
}

#[service]
async fn bare() {
    tokio::task::yield_now().await;
}

/// Run-time name and options, and methods that take the handles of children.
#[service(
    name = ::std::format!("wired-{}", self.id),
    options = service_runtime::Options::default(),
    grace = self.grace,
    drain = self.drain,
    max_children = self.limit
)]
struct Wired {
    id: u32,
    grace: ::core::option::Option<::core::time::Duration>,
    drain: ::core::time::Duration,
    limit: usize,
}

#[service]
impl Wired {
    #[child]
    fn unit(&self) -> Unit {
        Unit::new(6)
    }

    #[child(restart = "on-failure")]
    fn tuple(&self, unit: &service_runtime::ServiceHandle<Unit>) -> Tuple<u8> {
        Tuple::new(u8::from(unit.is_running()))
    }

    #[child(contained)]
    fn opaque(&self, unit: service_runtime::ServiceHandle<Unit>) -> impl service_runtime::Service {
        let finished = unit.is_finished();
        drop(unit);
        Unit::new(u8::from(finished))
    }

    #[daemon]
    async fn watch(
        &self,
        tuple: &service_runtime::RestartingHandle<Tuple<u8>>,
        cx: &service_runtime::Context,
        unit: service_runtime::ServiceHandle<Unit>,
    ) {
        let _ = (tuple.restarts(), unit.stats());
        cx.cancelled().await;
    }

    #[task(restart = "on-failure")]
    async fn poll(self: ::std::sync::Arc<Self>, unit: &service_runtime::ServiceHandle<Unit>) {
        let _ = (self.id, unit.name());
        tokio::task::yield_now().await;
    }
}

/// A service function named and configured from its arguments, which it owns.
#[service(
    name = ::std::format!("conn-{id}"),
    grace = grace,
    drain = drain,
    max_children = *limit
)]
async fn connection(
    cx: &service_runtime::Context,
    id: u32,
    grace: ::core::time::Duration,
    drain: ::core::time::Duration,
    limit: usize,
    socket: ::std::vec::Vec<u8>,
) {
    let _ = (cx.path(), id, grace, drain, limit);
    drop(socket);
    tokio::task::yield_now().await;
}

#[tokio::test]
async fn lint_clean_services_run() {
    let wired = service_runtime::ServiceExt::start(Wired::new(
        1,
        ::core::option::Option::Some(::core::time::Duration::ZERO),
        ::core::time::Duration::ZERO,
        10,
    ));
    assert_eq!(wired.name(), "wired-1");
    wired.wait_started().await;
    wired.stop().await.unwrap();
    let connection = Connection::new(
        2,
        ::core::time::Duration::ZERO,
        ::core::time::Duration::from_secs(3),
        3,
        ::std::vec::Vec::new(),
    );
    assert_eq!(service_runtime::Service::name(&connection), "conn-2");
    assert_eq!(
        service_runtime::Service::options(&connection).drain,
        ::core::time::Duration::from_secs(3)
    );
    service_runtime::ServiceExt::run(connection).await.unwrap();
    let handle = service_runtime::ServiceExt::start(Node::new(1, 2, 3, 4, 5, 6, 7, 8));
    handle.wait_started().await;
    assert_eq!(handle.name(), "lint-node");
    handle.stop().await.unwrap();
    service_runtime::ServiceExt::run(Ticker::new(::core::time::Duration::ZERO, "x".to_owned()))
        .await
        .unwrap();
    service_runtime::ServiceExt::run(Bare::new()).await.unwrap();
    for manager in [
        service_runtime::ServiceExt::start(Supervised::new())
            .manager()
            .clone(),
        service_runtime::ServiceExt::start(Endless::new())
            .manager()
            .clone(),
    ] {
        manager.wait_ready().await.unwrap();
        manager.stop().await.unwrap();
    }
}
