//! ferry-dev-s3: the dev stack's S3-compatible server. It serves s3s-fs's file store through
//! s3s with signature checks, like the `s3s-fs` binary, but takes its keys from the
//! environment: a command line is readable by every local user (`ps`), and on the dev machine
//! step scripts run as another local user.

mod config;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

fn main() {
    let config = match config::Command::from_args_and_env() {
        Ok(config::Command::Serve(config)) => config,
        Ok(config::Command::Version) => {
            println!("ferry-dev-s3 {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(error) => {
            eprintln!("ferry-dev-s3: {error}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(error) = runtime.block_on(serve(config)) {
        eprintln!("ferry-dev-s3: {error}");
        std::process::exit(1);
    }
}

async fn serve(config: config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = s3s_fs::FileSystem::new(&config.root)
        .map_err(|error| format!("opening {}: {error:?}", config.root.display()))?;
    let mut builder = S3ServiceBuilder::new(store);
    builder.set_auth(SimpleAuth::from_single(
        config.access_key,
        config.secret_key,
    ));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(&config.address).await?;
    eprintln!(
        "ferry-dev-s3: serving {} on http://{}",
        config.root.display(),
        listener.local_addr()?
    );
    let http = Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let mut terminated = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(error) => {
                    eprintln!("ferry-dev-s3: accepting a connection: {error}");
                    continue;
                }
            },
            _ = interrupted.as_mut() => break,
            _ = terminated.recv() => break,
        };
        let connection = http.serve_connection(TokioIo::new(socket), service.clone());
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
    }
    Ok(())
}
