use service_runtime::prelude::*;

#[service]
trait Node {
    fn announce(&self);
}

fn main() {}
