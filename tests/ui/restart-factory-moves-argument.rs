use service_runtime::prelude::*;

struct Socket;

#[service]
async fn connection(socket: Socket) {
    let _ = socket;
}

#[service]
async fn listener(cx: &Context) -> Result<(), BoxError> {
    let socket = Socket;
    cx.child(move || Connection::new(socket))
        .restart(Restart::on_failure())
        .spawn()?;
    Ok(())
}

fn main() {}
