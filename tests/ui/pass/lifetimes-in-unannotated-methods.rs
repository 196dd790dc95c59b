// Lifetimes are fine in methods the macros do not start, and in task methods' own
// signatures.
use service_runtime::prelude::*;

#[service]
struct Node {
    names: Vec<String>,
}

#[service]
impl Node {
    fn first<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.names.first().map_or(fallback, String::as_str)
    }

    fn longest<'a, 'b: 'a>(left: &'a str, right: &'b str) -> &'a str {
        if left.len() >= right.len() {
            left
        } else {
            right
        }
    }

    #[task]
    async fn announce<'a>(&'a self, cx: &'a Context) {
        let first = self.first("nobody");
        assert_eq!(Self::longest(first, cx.name()), "announce");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Node::new(vec!["ann".to_owned()]).run().await.unwrap();
}
