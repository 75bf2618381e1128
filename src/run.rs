//! Starting processes: dev (everything), one service, the gateway, migrations.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_auth::{GrpcJwksSource, TokenVerifier};
use gigmesh_config::BusKind;
use gigmesh_db::Db;
use gigmesh_events::{BackgroundTask, EmbeddedBus, KafkaBus, SharedBus};
use gigmesh_gateway::{Gateway, Upstream};
use gigmesh_grpc::{ServeOptions, ServiceDeps};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, ServiceName};
use crate::config::{GigmeshConfig, Mode};

/// Every topic a gigmesh service produces to.
const TOPICS: &[&str] = &[
    "gigmesh.auth.v1",
    "gigmesh.users.v1",
    "gigmesh.gigs.v1",
    "gigmesh.reviews.v1",
];

/// Demo accounts created by `gigmesh dev`: (email, username, password, roles).
const DEMO_ACCOUNTS: &[(&str, &str, &str, &[gigmesh_auth::Role])] = &[
    (
        "admin@gigmesh.dev",
        "admin",
        "admin-password-1",
        &[gigmesh_auth::Role::Buyer, gigmesh_auth::Role::Admin],
    ),
    (
        "buyer@gigmesh.dev",
        "demo_buyer",
        "buyer-password-1",
        &[gigmesh_auth::Role::Buyer],
    ),
];

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut figment = gigmesh_config::figment_for::<GigmeshConfig>(cli.config.as_deref());
    let mode = match &cli.command {
        Command::Dev {
            data_dir, listen, ..
        } => {
            if let Some(data_dir) = data_dir {
                figment = figment.merge(("data_dir", data_dir));
            }
            if let Some(listen) = listen {
                figment = figment.merge(("gateway.listen", listen));
            }
            Mode::Dev
        }
        Command::Serve { service } => Mode::Serve(*service),
        Command::Gateway => Mode::Gateway,
        Command::Migrate { service } => Mode::Migrate(*service),
        Command::Config => Mode::Dev,
        Command::RebuildSearchIndex { .. } => Mode::Migrate(Some(ServiceName::Search)),
    };
    let mut config: GigmeshConfig = gigmesh_config::extract(&figment)?;
    if matches!(
        cli.command,
        Command::Dev { .. } | Command::Config | Command::RebuildSearchIndex { dev: true }
    ) {
        config = config.with_dev_defaults();
    }
    config.validate_for(mode)?;

    match cli.command {
        Command::Dev {
            no_demo_accounts, ..
        } => run_dev(config, !no_demo_accounts).await,
        Command::Serve { service } => run_service(config, service).await,
        Command::Gateway => run_gateway(config).await,
        Command::Migrate { service } => run_migrations(config, service).await,
        Command::RebuildSearchIndex { .. } => rebuild_search_index(config).await,
        Command::Config => {
            #[allow(clippy::print_stdout)]
            {
                println!("{config:#?}");
            }
            Ok(())
        }
    }
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
fn cancel_on_signal(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut terminate =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(signal) => signal,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        shutdown.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down: draining in-flight calls");
        shutdown.cancel();
    });
}

async fn open_bus(config: &GigmeshConfig) -> anyhow::Result<SharedBus> {
    let bus: SharedBus = match config.bus.kind {
        BusKind::Embedded => {
            if let Some(parent) = config.bus.embedded_path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            Arc::new(
                EmbeddedBus::open(&config.bus.embedded_path)
                    .await
                    .context("cannot open the embedded event log")?,
            )
        }
        BusKind::Kafka => Arc::new(
            KafkaBus::new(&config.bus.kafka_brokers)
                .await
                .context("cannot reach Kafka")?,
        ),
    };
    bus.ensure_topics(TOPICS)
        .await
        .context("cannot create the event topics")?;
    Ok(bus)
}

async fn open_database(
    url: &str,
    max_connections: u32,
    service: ServiceName,
) -> anyhow::Result<Db> {
    Db::ensure_database(url)
        .await
        .with_context(|| format!("cannot create the {} database", service.as_str()))?;
    Db::connect(url, max_connections)
        .await
        .with_context(|| format!("cannot connect to the {} database", service.as_str()))
}

fn remote_verifier(auth_url: &str) -> anyhow::Result<TokenVerifier> {
    let source =
        GrpcJwksSource::connect_lazy(auth_url).context("invalid auth address for the JWKS")?;
    Ok(TokenVerifier::remote(Arc::new(source)))
}

/// A built service, whichever it is.
enum ServiceApp {
    Auth(gigmesh_auth_service::App),
    Users(gigmesh_users::App),
    Notifications(gigmesh_notifications::App),
    Gigs(gigmesh_gigs::App),
    Search(gigmesh_search::App),
}

impl ServiceApp {
    async fn build(
        config: &GigmeshConfig,
        service: ServiceName,
        deps: ServiceDeps,
    ) -> anyhow::Result<Self> {
        Ok(match service {
            ServiceName::Auth => Self::Auth(
                gigmesh_auth_service::App::build(deps, config.auth.settings.clone()).await?,
            ),
            ServiceName::Users => {
                Self::Users(gigmesh_users::App::build(deps, config.users.settings.clone()).await?)
            }
            ServiceName::Notifications => Self::Notifications(
                gigmesh_notifications::App::build(deps, config.notifications.settings.clone())
                    .await?,
            ),
            ServiceName::Gigs => {
                Self::Gigs(gigmesh_gigs::App::build(deps, config.gigs.settings.clone()).await?)
            }
            ServiceName::Search => Self::Search(
                gigmesh_search::App::build(deps, config.search.settings.clone()).await?,
            ),
        })
    }

    fn routes(&self) -> tonic::service::Routes {
        match self {
            Self::Auth(app) => app.routes(),
            Self::Users(app) => app.routes(),
            Self::Notifications(app) => app.routes(),
            Self::Gigs(app) => app.routes(),
            Self::Search(app) => app.routes(),
        }
    }

    fn background(&self) -> Vec<Box<dyn BackgroundTask>> {
        match self {
            Self::Auth(app) => app.background(),
            Self::Users(app) => app.background(),
            Self::Notifications(app) => app.background(),
            Self::Gigs(app) => app.background(),
            Self::Search(app) => app.background(),
        }
    }

    /// Fully qualified gRPC services the app serves.
    fn service_names(&self) -> Vec<String> {
        match self {
            Self::Auth(app) => app.service_names(),
            Self::Users(app) => app.service_names(),
            Self::Notifications(app) => app.service_names(),
            Self::Gigs(app) => app.service_names(),
            Self::Search(app) => app.service_names(),
        }
    }
}

fn database_config(
    config: &GigmeshConfig,
    service: ServiceName,
) -> &gigmesh_config::DatabaseConfig {
    config.service_endpoints(service).2
}

/// How often remote verifiers re-read auth's public keys, so rotated keys are picked up
/// before tokens signed by them arrive (an unknown key id also triggers a read).
const KEY_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

fn spawn_key_refresh(
    tasks: &mut JoinSet<()>,
    verifier: &TokenVerifier,
    shutdown: &CancellationToken,
) {
    let verifier = verifier.clone();
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        verifier
            .run_periodic_refresh(KEY_REFRESH_INTERVAL, shutdown)
            .await
    });
}

fn spawn_background(
    tasks: &mut JoinSet<()>,
    background: Vec<Box<dyn BackgroundTask>>,
    shutdown: &CancellationToken,
) {
    for task in background {
        let shutdown = shutdown.clone();
        tasks.spawn(async move { task.run(shutdown).await });
    }
}

async fn spawn_metrics(
    tasks: &mut JoinSet<()>,
    listen: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    if listen.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot bind the metrics endpoint on {listen}"))?;
    let address = listener.local_addr()?;
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(error) = gigmesh_telemetry::serve_metrics(listener, shutdown).await {
            tracing::error!(error = format!("{error:#}"), "metrics endpoint stopped");
        }
    });
    Ok(Some(address))
}

/// Waits for every task after shutdown was requested, so in-flight work completes.
async fn join_all(mut tasks: JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result
            && error.is_panic()
        {
            tracing::error!(%error, "a task panicked");
        }
    }
}

async fn run_dev(config: GigmeshConfig, create_demo_accounts: bool) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.telemetry, "gigmesh-dev")?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;

    let listener = TcpListener::bind(&config.gateway.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.gateway.listen))?;
    let gateway_address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());

    let bus = open_bus(&config).await?;
    let mut tasks = JoinSet::new();
    let mut upstreams = Vec::new();

    // Auth first: every other verifier in the process reads its public keys in-process, the
    // way a remote verifier reads them over GetJwks.
    let auth_database = database_config(&config, ServiceName::Auth);
    let auth_db = open_database(
        &auth_database.url,
        auth_database.max_connections,
        ServiceName::Auth,
    )
    .await?;
    let auth = gigmesh_auth_service::App::build(
        ServiceDeps {
            db: auth_db,
            bus: bus.clone(),
            verifier: TokenVerifier::from_jwks([]),
        },
        config.auth.settings.clone(),
    )
    .await?;
    let verifier = TokenVerifier::remote(auth.jwks_source());
    spawn_key_refresh(&mut tasks, &verifier, &shutdown);
    let auth_app = ServiceApp::Auth(auth.clone());

    let mut apps = vec![auth_app];
    for service in [
        ServiceName::Users,
        ServiceName::Notifications,
        ServiceName::Gigs,
        ServiceName::Search,
    ] {
        let database = database_config(&config, service);
        let db = open_database(&database.url, database.max_connections, service).await?;
        let deps = ServiceDeps {
            db,
            bus: bus.clone(),
            verifier: verifier.clone(),
        };
        apps.push(ServiceApp::build(&config, service, deps).await?);
    }
    for app in &apps {
        for name in app.service_names() {
            upstreams.push((name, Upstream::in_process(app.routes())));
        }
        spawn_background(&mut tasks, app.background(), &shutdown);
    }

    if create_demo_accounts {
        for (email, username, password, roles) in DEMO_ACCOUNTS {
            auth.seed_account(email, username, password, roles, true)
                .await
                .with_context(|| format!("cannot create the demo account {username}"))?;
        }
    }

    let metrics_address =
        spawn_metrics(&mut tasks, &config.telemetry.metrics_listen, &shutdown).await?;
    let gateway = Gateway::new(config.gateway.clone(), verifier, upstreams)?;
    let gateway_shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(error) = gateway.serve(listener, gateway_shutdown.clone()).await {
            tracing::error!(error = format!("{error:#}"), "gateway stopped");
            gateway_shutdown.cancel();
        }
    });

    print_dev_banner(
        &config,
        gateway_address,
        metrics_address,
        create_demo_accounts,
    );
    shutdown.cancelled().await;
    join_all(tasks).await;
    telemetry.shutdown();
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_dev_banner(
    config: &GigmeshConfig,
    gateway_address: SocketAddr,
    metrics_address: Option<SocketAddr>,
    demo_accounts: bool,
) {
    println!();
    println!("gigmesh dev is running");
    println!("  gateway (gRPC + grpc-web): http://{gateway_address}");
    println!("  try:     grpcurl -plaintext {gateway_address} list");
    if let Some(metrics) = metrics_address {
        println!("  metrics: http://{metrics}/metrics");
    }
    println!("  data:    {}", config.data_dir.display());
    println!(
        "  mail:    {}",
        config.notifications.settings.file_dir.display()
    );
    if demo_accounts {
        println!("  demo accounts (login / password):");
        for (_, username, password, roles) in DEMO_ACCOUNTS {
            let roles: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
            println!("    {username:<12} {password:<20} {}", roles.join(", "));
        }
    }
    println!("  stop with Ctrl-C");
    println!();
}

async fn run_service(config: GigmeshConfig, service: ServiceName) -> anyhow::Result<()> {
    let telemetry =
        gigmesh_telemetry::init(&config.telemetry, &format!("gigmesh-{}", service.as_str()))?;
    let (listen, metrics_listen, _) = config.service_endpoints(service);
    let section_listen = (listen.to_owned(), metrics_listen.to_owned());
    let listener = TcpListener::bind(&section_listen.0)
        .await
        .with_context(|| format!("cannot listen on {}", section_listen.0))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());

    // Auth verifies with its own key table; everyone else reads auth's JWKS.
    let verifier = if service == ServiceName::Auth {
        TokenVerifier::from_jwks([])
    } else {
        remote_verifier(&config.upstreams.auth)?
    };
    let bus = open_bus(&config).await?;
    let database = database_config(&config, service);
    let db = open_database(&database.url, database.max_connections, service).await?;
    let app = ServiceApp::build(
        &config,
        service,
        ServiceDeps {
            db,
            bus,
            verifier: verifier.clone(),
        },
    )
    .await?;

    let mut tasks = JoinSet::new();
    if service != ServiceName::Auth {
        spawn_key_refresh(&mut tasks, &verifier, &shutdown);
    }
    spawn_background(&mut tasks, app.background(), &shutdown);
    spawn_metrics(&mut tasks, &section_listen.1, &shutdown).await?;
    let options = ServeOptions {
        service_names: app.service_names(),
        ..ServeOptions::default()
    };
    tracing::info!(service = service.as_str(), %address, "serving");
    let served = gigmesh_grpc::serve(listener, app.routes(), options, shutdown.clone()).await;
    shutdown.cancel();
    join_all(tasks).await;
    telemetry.shutdown();
    served
}

async fn run_gateway(config: GigmeshConfig) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.telemetry, "gigmesh-gateway")?;
    let listener = TcpListener::bind(&config.gateway.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.gateway.listen))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());

    let verifier = remote_verifier(&config.upstreams.auth)?;
    let upstreams = vec![
        (
            "gigmesh.auth.v1.AuthService".to_owned(),
            Upstream::connect_lazy(&config.upstreams.auth)?,
        ),
        (
            "gigmesh.users.v1.UserService".to_owned(),
            Upstream::connect_lazy(&config.upstreams.users)?,
        ),
        (
            "gigmesh.gigs.v1.GigService".to_owned(),
            Upstream::connect_lazy(&config.upstreams.gigs)?,
        ),
        (
            "gigmesh.search.v1.SearchService".to_owned(),
            Upstream::connect_lazy(&config.upstreams.search)?,
        ),
    ];
    let mut tasks = JoinSet::new();
    spawn_key_refresh(&mut tasks, &verifier, &shutdown);
    spawn_metrics(&mut tasks, &config.telemetry.metrics_listen, &shutdown).await?;
    let gateway = Gateway::new(config.gateway.clone(), verifier, upstreams)?;
    tracing::info!(%address, "gateway listening");
    let served = gateway.serve(listener, shutdown.clone()).await;
    shutdown.cancel();
    join_all(tasks).await;
    telemetry.shutdown();
    served
}

async fn run_migrations(config: GigmeshConfig, only: Option<ServiceName>) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.telemetry, "gigmesh-migrate")?;
    let services = only.map_or_else(|| ServiceName::ALL.to_vec(), |service| vec![service]);
    for service in services {
        let database = database_config(&config, service);
        let db = open_database(&database.url, database.max_connections, service).await?;
        match service {
            ServiceName::Auth => gigmesh_auth_service::migrate(&db).await?,
            ServiceName::Users => gigmesh_users::migrate(&db).await?,
            ServiceName::Notifications => gigmesh_notifications::migrate(&db).await?,
            ServiceName::Gigs => gigmesh_gigs::migrate(&db).await?,
            ServiceName::Search => gigmesh_search::migrate(&db).await?,
        }
        tracing::info!(service = service.as_str(), "migrations applied");
        db.close().await;
    }
    telemetry.shutdown();
    Ok(())
}

async fn rebuild_search_index(config: GigmeshConfig) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.telemetry, "gigmesh-search-rebuild")?;
    let database = database_config(&config, ServiceName::Search);
    let db = open_database(&database.url, database.max_connections, ServiceName::Search).await?;
    let bus = open_bus(&config).await?;
    let deps = ServiceDeps {
        db,
        bus,
        verifier: TokenVerifier::from_jwks([]),
    };
    let search = gigmesh_search::App::build(deps, config.search.settings.clone()).await?;
    let indexed = search.rebuild_index().await?;
    tracing::info!(indexed, "search index rebuilt");
    #[allow(clippy::print_stdout)]
    {
        println!("search index rebuilt: {indexed} gigs");
    }
    telemetry.shutdown();
    Ok(())
}
