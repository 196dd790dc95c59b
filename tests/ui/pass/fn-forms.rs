// Service functions: with or without the context, by reference or by value, generic,
// `mut` parameters, every return type.
use std::time::Duration;

use service_runtime::prelude::*;

#[service]
async fn no_context() {}

#[service]
async fn by_value(cx: Context, mut count: u32) -> Result<(), LifecycleError> {
    count += 1;
    cx.run_task("inner", move |_cx| async move { assert_eq!(count, 2) })
}

#[service(name = "beat", grace = "10ms")]
async fn heartbeat(cx: &Context, period: Duration, label: String) -> anyhow::Result<()> {
    assert_eq!(cx.path(), "beat");
    assert_eq!((period, label.as_str()), (Duration::from_millis(5), "x"));
    Ok(())
}

#[service]
async fn generic<T>(value: T) -> Result<(), std::io::Error>
where
    T: Clone + PartialEq + std::fmt::Debug,
{
    assert_eq!(value.clone(), value);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    NoContext::new().run().await.unwrap();
    ByValue::new(1).run().await.unwrap();
    let beat = Heartbeat::new(Duration::from_millis(5), "x".to_owned());
    assert_eq!(format!("{beat:?}"), "Heartbeat { .. }");
    assert_eq!(beat.options().grace, Some(Duration::from_millis(10)));
    beat.run().await.unwrap();
    Generic::new(5u8).run().await.unwrap();
}
