use std::sync::Arc;

use service_runtime::prelude::*;

struct Node;

#[service]
impl Service for Node {
    async fn serve(self: Arc<Self>, _cx: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

fn main() {}
