//! Command-line interface.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Parser, Subcommand};

use crate::services::SERVICES;

/// gigmesh — the backend of a freelance marketplace, as a gRPC service mesh.
///
/// Start everything on this machine with `gigmesh dev` (no external dependencies; data under
/// ./.gigmesh), then call it on 127.0.0.1:8080 with grpcurl, buf curl or any gRPC / grpc-web
/// client. In production, run one process per service (`gigmesh serve auth`, …) on
/// PostgreSQL and Kafka, with `gigmesh gateway` in front.
///
/// Configuration: defaults, then the TOML file given with --config, then environment
/// variables GIGMESH__<SECTION>__<KEY> (e.g. GIGMESH__AUTH__DATABASE__URL). See README.md.
#[derive(Debug, Parser)]
#[command(name = "gigmesh", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file (optional).
    #[arg(long, short, global = true, env = "GIGMESH_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway and every service in this process on embedded defaults
    /// (SQLite, embedded event log, mail written to .eml files). Data survives restarts.
    Dev {
        /// Directory for databases, the event log and mail (default ./.gigmesh).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address of the gateway (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Do not create the demo accounts.
        #[arg(long)]
        no_demo_accounts: bool,
    },
    /// Run one service in this process (distributed mode).
    Serve {
        /// The service to run.
        #[arg(value_parser = service_names())]
        service: String,
    },
    /// Run the gateway in this process (distributed mode), in front of the services'
    /// addresses from the configuration.
    Gateway,
    /// Create the databases (PostgreSQL) and apply every migration, then exit.
    Migrate {
        /// Only this service (default: all).
        #[arg(value_parser = service_names())]
        service: Option<String>,
    },
    /// Print the configuration as gigmesh sees it (secrets redacted), then exit.
    Config,
    /// Rebuild the search index from the search service's database, then exit (the search
    /// service must not be running on the same index directory).
    RebuildSearchIndex {
        /// Use the dev-mode defaults (the index and database under the data directory).
        #[arg(long)]
        dev: bool,
    },
}

/// The services' names, each with its summary for `--help`.
fn service_names() -> PossibleValuesParser {
    PossibleValuesParser::new(SERVICES.iter().map(|entry| {
        let description = entry.description();
        PossibleValue::new(description.name).help(description.summary)
    }))
}
