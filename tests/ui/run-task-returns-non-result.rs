use std::sync::Arc;

use service_runtime::prelude::*;

struct Node;

impl Service for Node {
    async fn serve(self: Arc<Self>, cx: Context) -> Result<(), BoxError> {
        cx.run_task("count", |_cx| async { 42_u64 })?;
        Ok(())
    }
}

fn main() {}
