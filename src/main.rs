//! The `gigmesh` command: the composition root of the marketplace mesh. It reads the
//! configuration, picks the adapters (SQLite or PostgreSQL, embedded log or Kafka, files or
//! SMTP) and starts the services and the gateway: all in one process (`gigmesh dev`) or one
//! per process (`gigmesh serve <service>`, `gigmesh gateway`).

mod cli;
mod config;
mod run;
mod services;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gigmesh: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gigmesh: {error:#}");
            ExitCode::from(2)
        }
    }
}
