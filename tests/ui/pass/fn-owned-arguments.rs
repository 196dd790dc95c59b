// A `#[service]` function owns its arguments: they need not be `Clone` (nor `Sync`), and
// the function consumes them.
use service_runtime::prelude::*;

struct Socket(std::cell::Cell<u8>);

impl Socket {
    fn close(self) {}
}

#[service]
async fn serve_socket(socket: Socket) {
    socket.0.set(1);
    socket.close();
}

fn main() {
    let _ = ServeSocket::new(Socket(std::cell::Cell::new(0)));
}
