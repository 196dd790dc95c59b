use service_runtime::prelude::*;

#[service(no_new)]
async fn heartbeat() {}

fn main() {}
