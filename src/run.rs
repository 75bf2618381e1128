//! Starting processes: dev (everything), one service, the gateway, migrations. Which
//! services exist comes from the service list (`crate::services`), through the
//! configuration; nothing here names one, except the search index rebuild (a command of its
//! own), the dev banner (demo accounts, mail directory) and the dev mail-token key pair.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gigmesh_auth::TokenVerifier;
use gigmesh_config::BusKind;
use gigmesh_events::BackgroundTask;
use gigmesh_gateway::{DnsResolver, Gateway, ResolveAddresses, Upstream};
use gigmesh_runtime::process::{
    cancel_on_signal, join_all, open_bus, open_database, open_embedded_bus, remote_verifier,
    spawn_background, spawn_key_refresh, spawn_metrics,
};
use gigmesh_runtime::retention::{EventLogRetention, Retention};
use gigmesh_runtime::{
    Background, ConfiguredService, Description, RunningService, Service as _, ServiceApp,
    ServiceDeps,
};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::{GigmeshConfig, Mode};

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut figment = GigmeshConfig::figment(cli.config.as_deref());
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
        Command::Serve { service } => Mode::Serve(service),
        Command::Gateway => Mode::Gateway,
        Command::Migrate { service } => Mode::Migrate(service.as_deref()),
        Command::Config => Mode::Dev,
        Command::RebuildSearchIndex { .. } => {
            Mode::Migrate(Some(gigmesh_search::App::DESCRIPTION.name))
        }
    };
    let mut config = GigmeshConfig::extract(&figment)?;
    if matches!(
        cli.command,
        Command::Dev { .. } | Command::Config | Command::RebuildSearchIndex { dev: true }
    ) {
        config = config.with_dev_defaults();
    }
    config.validate_for(mode)?;

    match &cli.command {
        Command::Dev {
            no_demo_accounts, ..
        } => run_dev(config, !no_demo_accounts).await,
        Command::Serve { service } => run_service(config, service).await,
        Command::Gateway => run_gateway(config).await,
        Command::Migrate { service } => run_migrations(config, service.as_deref()).await,
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

/// The retention task of a service's database.
fn retention_of(
    config: &GigmeshConfig,
    deps: &ServiceDeps,
    description: Description,
) -> Vec<Box<dyn BackgroundTask>> {
    vec![Box::new(Retention::new(
        description.name,
        description.retention,
        deps.db.clone(),
        &config.shared.retention,
    ))]
}

/// The deps of `service`, on its own database.
async fn deps_for(
    config: &GigmeshConfig,
    service: &dyn ConfiguredService,
    bus: &gigmesh_events::SharedBus,
    verifier: TokenVerifier,
) -> anyhow::Result<ServiceDeps> {
    let db = open_database(service.description().name, service.database()).await?;
    Ok(ServiceDeps::new(db, bus.clone(), verifier)
        .with_event_max_attempts(config.shared.bus.event_max_attempts))
}

async fn run_dev(config: GigmeshConfig, create_demo_data: bool) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.shared.telemetry, "gigmesh-dev")?;
    let data_dir = &config.shared.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;

    let listen = &config.shared.gateway.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let gateway_address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());

    create_dev_mail_token_key(&config)?;
    let mut tasks = JoinSet::new();
    let bus: gigmesh_events::SharedBus = match config.shared.bus.kind {
        BusKind::Embedded => {
            let log = open_embedded_bus(&config.shared.bus).await?;
            let retention = EventLogRetention::new(log.clone(), &config.shared.retention);
            spawn_background(&mut tasks, vec![Box::new(retention)], &shutdown);
            log
        }
        BusKind::Kafka => open_bus(&config.shared.bus).await?,
    };

    // The token issuer first: every other verifier in the process reads its public keys
    // in-process, the way a remote verifier reads them over GetJwks.
    let mut services: Vec<&dyn ConfiguredService> =
        config.services.iter().map(AsRef::as_ref).collect();
    services.sort_by_key(|service| !service.description().issues_tokens);
    let mut verifier = TokenVerifier::from_jwks([]);
    let mut apps: Vec<Box<dyn ServiceApp>> = Vec::new();
    for service in services {
        let deps = deps_for(&config, service, &bus, verifier.clone()).await?;
        let retention = retention_of(&config, &deps, service.description());
        let app = service.build(deps).await?;
        spawn_background(&mut tasks, retention, &shutdown);
        if let Some(keys) = app.jwks_source() {
            verifier = TokenVerifier::remote(keys);
            spawn_key_refresh(&mut tasks, &verifier, &shutdown);
        }
        if create_demo_data {
            app.seed_demo_data().await?;
        }
        apps.push(app);
    }

    let mut upstreams = Vec::new();
    for app in &apps {
        for name in app.description().grpc_services {
            upstreams.push(((*name).to_owned(), Upstream::in_process(app.routes())));
        }
        spawn_background(&mut tasks, app.background(), &shutdown);
    }

    let metrics_address = spawn_metrics(
        &mut tasks,
        &config.shared.telemetry.metrics_listen,
        &shutdown,
    )
    .await?;
    let gateway = Gateway::new(config.shared.gateway.clone(), verifier, upstreams)?;
    let gateway_shutdown = shutdown.clone();
    tasks.spawn(async move {
        if let Err(error) = gateway.serve(listener, gateway_shutdown.clone()).await {
            tracing::error!(error = format!("{error:#}"), "gateway stopped");
            gateway_shutdown.cancel();
        }
    });

    print_dev_banner(&config, gateway_address, metrics_address, create_demo_data);
    shutdown.cancelled().await;
    join_all(tasks).await;
    telemetry.shutdown();
    Ok(())
}

/// Creates, on the first start, the key pair that mailed tokens are sealed to: the secret
/// half for notifications, the public half beside it for auth, which is built first.
fn create_dev_mail_token_key(config: &GigmeshConfig) -> anyhow::Result<()> {
    let notifications = config
        .service(gigmesh_notifications::App::DESCRIPTION.name)
        .and_then(|section| {
            section
                .settings()
                .downcast_ref::<gigmesh_notifications::Config>()
        });
    match notifications {
        Some(settings) => gigmesh_notifications::create_dev_key_pair(settings),
        None => Ok(()),
    }
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
    println!("  data:    {}", config.shared.data_dir.display());
    let mail = config
        .service(gigmesh_notifications::App::DESCRIPTION.name)
        .and_then(|section| {
            section
                .settings()
                .downcast_ref::<gigmesh_notifications::Config>()
        });
    if let Some(mail) = mail {
        println!("  mail:    {}", mail.file_dir.display());
    }
    if demo_accounts {
        println!("  demo accounts (login / password):");
        for (_, username, password, roles) in gigmesh_auth_service::DEMO_ACCOUNTS {
            let roles: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
            println!("    {username:<12} {password:<20} {}", roles.join(", "));
        }
    }
    println!("  stop with Ctrl-C");
    println!();
}

async fn run_service(config: GigmeshConfig, name: &str) -> anyhow::Result<()> {
    let service = config
        .service(name)
        .with_context(|| format!("there is no service {name}"))?;
    let description = service.description();
    let telemetry = gigmesh_telemetry::init(
        &config.shared.telemetry,
        &format!("gigmesh-{}", description.name),
    )?;
    let listener = TcpListener::bind(service.listen())
        .await
        .with_context(|| format!("cannot listen on {}", service.listen()))?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());

    // The token issuer verifies with its own key table; everyone else reads its JWKS.
    let mut tasks = JoinSet::new();
    let verifier = if description.issues_tokens {
        TokenVerifier::from_jwks([])
    } else {
        let issuer = config
            .token_issuer_url()
            .context("no address of the token issuer in upstreams")?;
        let verifier = remote_verifier(issuer)?;
        spawn_key_refresh(&mut tasks, &verifier, &shutdown);
        verifier
    };
    let bus = open_bus(&config.shared.bus).await?;
    let deps = deps_for(&config, service, &bus, verifier).await?;
    let retention = retention_of(&config, &deps, description);
    let app = service.build(deps).await?;
    spawn_background(&mut tasks, retention, &shutdown);
    spawn_metrics(&mut tasks, service.metrics_listen(), &shutdown).await?;

    let running = RunningService::serve(
        listener,
        gigmesh_runtime::Serving::of(app.as_ref(), Background::Run),
        shutdown.clone(),
    )?;
    tracing::info!(service = description.name, address = %running.address(), "serving");
    let served = running.run_until_stopped().await;
    join_all(tasks).await;
    telemetry.shutdown();
    served
}

async fn run_gateway(config: GigmeshConfig) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.shared.telemetry, "gigmesh-gateway")?;
    let listen = &config.shared.gateway.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());

    let issuer = config
        .token_issuer_url()
        .context("no address of the token issuer in upstreams")?;
    let verifier = remote_verifier(issuer)?;
    let mut tasks = JoinSet::new();
    // Each service's calls are balanced over every address its host name resolves to (the
    // pods of a headless Service), resolved again every `upstream_resolve_interval_seconds`.
    let resolver: Arc<dyn ResolveAddresses> = Arc::new(DnsResolver);
    let resolve_interval = config.shared.gateway.upstream_resolve_interval();
    let mut upstreams = Vec::new();
    for service in &config.services {
        let description = service.description();
        let Some(url) = config.shared.upstreams.get(description.name) else {
            continue;
        };
        let (upstream, discovery) = Upstream::balanced(url, resolver.clone())?;
        tasks.spawn(discovery.run(resolve_interval, shutdown.child_token()));
        for name in description.grpc_services {
            upstreams.push(((*name).to_owned(), upstream.clone()));
        }
    }
    spawn_key_refresh(&mut tasks, &verifier, &shutdown);
    spawn_metrics(
        &mut tasks,
        &config.shared.telemetry.metrics_listen,
        &shutdown,
    )
    .await?;
    let gateway = Gateway::new(config.shared.gateway.clone(), verifier, upstreams)?;
    tracing::info!(%address, "gateway listening");
    let served = gateway.serve(listener, shutdown.clone()).await;
    shutdown.cancel();
    join_all(tasks).await;
    telemetry.shutdown();
    served
}

async fn run_migrations(config: GigmeshConfig, only: Option<&str>) -> anyhow::Result<()> {
    let telemetry = gigmesh_telemetry::init(&config.shared.telemetry, "gigmesh-migrate")?;
    for service in &config.services {
        let description = service.description();
        if only.is_some_and(|name| name != description.name) {
            continue;
        }
        let db = open_database(description.name, service.database()).await?;
        gigmesh_runtime::migrate(&description, &db).await?;
        tracing::info!(service = description.name, "migrations applied");
        db.close().await;
    }
    telemetry.shutdown();
    Ok(())
}

async fn rebuild_search_index(config: GigmeshConfig) -> anyhow::Result<()> {
    use gigmesh_search::App as Search;
    let telemetry = gigmesh_telemetry::init(&config.shared.telemetry, "gigmesh-search-rebuild")?;
    let section = config
        .service(Search::DESCRIPTION.name)
        .context("the search service is not configured")?;
    let settings = section
        .settings()
        .downcast_ref::<gigmesh_search::Config>()
        .context("the search section holds other settings")?
        .clone();
    let db = open_database(Search::DESCRIPTION.name, section.database()).await?;
    let bus = open_bus(&config.shared.bus).await?;
    let deps = ServiceDeps::new(db, bus, TokenVerifier::from_jwks([]));
    let search = Search::build(deps, settings).await?;
    let indexed = search.rebuild_index().await?;
    tracing::info!(indexed, "search index rebuilt");
    #[allow(clippy::print_stdout)]
    {
        println!("search index rebuilt: {indexed} gigs");
    }
    telemetry.shutdown();
    Ok(())
}
