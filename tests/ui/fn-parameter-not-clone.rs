use service_runtime::prelude::*;

struct Socket;

#[service]
async fn serve_socket(socket: Socket) {
    let _ = socket;
}

fn main() {
    let _ = ServeSocket::new(Socket);
}
