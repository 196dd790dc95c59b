use std::time::Duration;

use service_runtime::prelude::*;

// A drain has no "inherit": unlike a grace, it cannot be an `Option<Duration>`.
#[service(drain = self.drain)]
struct Node {
    drain: Option<Duration>,
}

#[service]
impl Node {
    #[task]
    async fn announce(&self) {}
}

fn main() {}
