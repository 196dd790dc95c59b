use service_runtime::prelude::*;

#[service]
struct Node;

#[derive(Debug)]
struct NotAnError;

#[service]
impl Node {
    #[task]
    async fn announce(&self) -> Result<(), NotAnError> {
        Err(NotAnError)
    }
}

fn main() {}
