use std::time::Duration;

use service_runtime::prelude::*;

#[service]
async fn heartbeat(period: Duration, cx: &Context) {
    let _ = (cx, period);
}

fn main() {}
