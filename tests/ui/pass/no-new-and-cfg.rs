// `no_new` leaves `new` to the user; `#[cfg]` on fields and methods is respected;
// doc comments and other attributes stay where they are.
use service_runtime::prelude::*;

/// A node.
#[service(no_new)]
#[derive(Debug, Default)]
struct Node {
    #[cfg(any())]
    never: u32,
    peers: Vec<String>,
}

impl Node {
    fn new() -> Self {
        Node {
            peers: vec!["a".into()],
        }
    }
}

#[service]
impl Node {
    /// Announces.
    #[task]
    #[allow(clippy::unused_async)]
    async fn announce(&self) {
        assert_eq!(self.peers.len(), 1);
    }

    #[cfg(any())]
    #[task]
    async fn never(&self) {
        let _ = self.never;
    }
}

#[service]
struct Plain {
    #[cfg(any())]
    never: u32,
    value: u8,
}

#[service]
impl Plain {
    #[service_runtime::task]
    async fn check(&self) {
        assert_eq!(self.value, 3);
    }
}

#[service]
struct Tuple(u8, String);

#[service]
impl Tuple {
    #[task]
    async fn check(&self) {
        assert_eq!((self.0, self.1.as_str()), (1, "x"));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Node::new().run().await.unwrap();
    let _ = Node::default();
    Plain::new(3).run().await.unwrap();
    Tuple::new(1, "x".into()).run().await.unwrap();
}
