use std::time::Duration;

use service_runtime::prelude::*;

#[service]
fn heartbeat(period: Duration) {
    let _ = period;
}

fn main() {
    let _ = Heartbeat::new(Duration::from_secs(1));
}
