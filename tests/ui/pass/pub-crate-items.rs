// Visibilities are kept: `pub(crate)` structs, methods and `new`, a `pub(crate)` service
// function.
mod services {
    pub(crate) mod inner {
        use service_runtime::prelude::*;

        #[service(name = "inner-node")]
        pub(crate) struct Inner {
            pub(crate) id: u32,
        }

        #[service]
        impl Inner {
            #[task]
            pub(crate) async fn announce(&self) {
                let _ = self.id;
            }
        }
    }

    use service_runtime::prelude::*;

    #[service]
    pub(crate) struct Outer {
        pub(crate) inner_id: u32,
    }

    #[service]
    impl Outer {
        #[child]
        pub(crate) fn inner(&self) -> inner::Inner {
            inner::Inner::new(self.inner_id)
        }
    }

    /// Beats once.
    #[service]
    pub(crate) async fn heartbeat(cx: &Context, beats: u32) {
        assert_eq!(cx.path(), "Heartbeat");
        assert_eq!(beats, 1);
    }
}

use service_runtime::prelude::*;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    services::Outer::new(7).run().await.unwrap();
    services::Heartbeat::new(1).run().await.unwrap();
}
