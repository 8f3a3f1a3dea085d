//! A tonic gRPC service behind SPOE: `SpoeLayer` runs the `spoe.conf` messages for each call
//! (tonic's `Server::layer`), and an interceptor turns the agents' variables into a gRPC
//! status: `PERMISSION_DENIED` for `--deny-if`, `RESOURCE_EXHAUSTED` for `--deny-unless`. The
//! service is gRPC's standard health service (`grpc.health.v1.Health`, from tonic-health).
//!
//! Each accepted connection carries its `ConnectionFacts` as tonic's connect info, so the
//! layer finds the client's address and the session's variables in every request.
//!
//! ```text
//! cargo run -p spoe-examples --bin tonic_server -- 127.0.0.1:50051 127.0.0.1:12345 spoe.conf --deny-if txn.bot.bot
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use spoe_examples::{
    Args, DRAIN_GRACE, args_or_exit, builder, refusal, reload_on_sighup, stop_signal,
};
use spoe_http::{ConnectionFacts, SpoeVars};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Server;
use tonic::transport::server::Connected;
use tonic::{Request, Status};
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

/// A client connection with its facts, which tonic hands to every request as connect info.
struct FactsIo {
    io: TcpStream,
    facts: ConnectionFacts,
}

impl Connected for FactsIo {
    type ConnectInfo = ConnectionFacts;

    fn connect_info(&self) -> ConnectionFacts {
        self.facts.clone()
    }
}

impl AsyncRead for FactsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for FactsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The interceptor: the agents' verdict as a gRPC status.
fn check(args: &Args, req: Request<()>) -> Result<Request<()>, Status> {
    let Some(vars) = req.extensions().get::<SpoeVars>() else {
        return Err(Status::internal(
            "SpoeLayer does not run in front of this service",
        ));
    };
    match refusal(args, &vars.snapshot()).map(|s| s.as_u16()) {
        Some(403) => Err(Status::permission_denied("denied by SPOE")),
        Some(_) => Err(Status::resource_exhausted("over the limit")),
        None => Ok(req),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    spoe_examples::init_logs();
    let args = args_or_exit();
    let spoe = builder(&args).build()?;
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.and_then(|(io, client)| {
            let facts = ConnectionFacts::tcp(client, io.local_addr()?);
            Ok(FactsIo { io, facts })
        });
        Some((accepted, listener))
    });
    let (reporter, _) = tonic_health::server::health_reporter();
    let health: HealthReporter = reporter.clone();
    health.set_serving::<HealthServer<HealthService>>().await;
    let service = HealthService::from_health_reporter(reporter);
    let checked = HealthServer::with_interceptor(service, move |req| check(&args, req));
    let server = Server::builder()
        .layer(spoe.clone())
        .add_service(checked)
        .serve_with_incoming_shutdown(incoming, stop_signal());
    tokio::select! {
        served = server => served?,
        () = reload_on_sighup(spoe.clone()) => {}
    }
    let _ = tokio::time::timeout(DRAIN_GRACE, spoe.drain()).await;
    Ok(())
}
