//! What the order and payment benchmarks do through the gateway before they measure: sign
//! buyers up and in, make a gig orderable, place an order, and read the order and its
//! payment; plus publishing a gig's `GigChanged` on the Kafka bus as the gig service's
//! outbox relay would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gigmesh_config::{BusConfig, BusKind};
use gigmesh_events::{OutgoingRecord, new_envelope};
use gigmesh_proto::orders::order_service_client::OrderServiceClient;
use gigmesh_proto::payments::payment_service_client::PaymentServiceClient;
use gigmesh_proto::{auth, gigs, orders, payments, types};
use prost::Message as _;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tonic::{Code, Request};

use auth::auth_service_client::AuthServiceClient;

use crate::process::connect;

/// The password of every buyer the benchmarks sign up.
const BUYER_PASSWORD: &str = "bench-buyer-password-1";
/// Sign-ups (and log-ins) in flight at once: each hashes a password with argon2id, about
/// 20 ms of one core, so more than the two cores only queue.
const SIGN_UP_CONCURRENCY: usize = 2;
/// The price of the benchmark gig's basic package, in cents.
pub const PACKAGE_PRICE: i64 = 5_000;
/// How long orders may take to learn a published gig.
const ORDERABLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long payments may take to learn a placed order.
const PAYMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// `message` with `access_token` as its bearer token.
pub fn signed<T>(message: T, access_token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {access_token}").parse()?);
    Ok(request)
}

/// Signs up `count` buyers named after `run` through the gateway at `gateway`, marks their
/// addresses verified in auth's database at `auth_db_url` (as an operator would; nothing here
/// reads mail), and signs each in; returns their access tokens (valid for 15 minutes) in
/// order.
pub async fn sign_up_buyers(
    gateway: SocketAddr,
    auth_db_url: &str,
    run: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let channel = connect(gateway).await?;
    let usernames: Vec<String> = (0..count).map(|index| format!("b{run}x{index}")).collect();
    for_each_buyer(&channel, &usernames, |mut auth, username| async move {
        auth.sign_up(auth::SignUpRequest {
            email: format!("{username}@bench.gigmesh.dev"),
            username: username.clone(),
            password: BUYER_PASSWORD.to_owned(),
        })
        .await
        .with_context(|| format!("SignUp {username}"))?;
        Ok(String::new())
    })
    .await?;
    mark_verified(auth_db_url, &usernames).await?;
    for_each_buyer(&channel, &usernames, |mut auth, username| async move {
        let tokens = auth
            .log_in(auth::LogInRequest {
                login: username.clone(),
                password: BUYER_PASSWORD.to_owned(),
            })
            .await
            .with_context(|| format!("LogIn {username}"))?
            .into_inner()
            .tokens
            .context("LogIn answered no tokens")?;
        Ok(tokens.access_token)
    })
    .await
}

/// Runs `call` for each of `usernames`, [`SIGN_UP_CONCURRENCY`] at a time; returns what
/// each answered, in order.
async fn for_each_buyer<Call, Answer>(
    channel: &Channel,
    usernames: &[String],
    call: Call,
) -> anyhow::Result<Vec<String>>
where
    Call: Fn(AuthServiceClient<Channel>, String) -> Answer,
    Answer: std::future::Future<Output = anyhow::Result<String>> + Send + 'static,
{
    let mut answers = vec![String::new(); usernames.len()];
    let mut in_flight = JoinSet::new();
    let mut next = 0;
    while next < usernames.len() || !in_flight.is_empty() {
        while next < usernames.len() && in_flight.len() < SIGN_UP_CONCURRENCY {
            let answer = call(
                AuthServiceClient::new(channel.clone()),
                usernames[next].clone(),
            );
            let index = next;
            in_flight.spawn(async move { (index, answer.await) });
            next += 1;
        }
        if let Some(joined) = in_flight.join_next().await {
            let (index, answer) = joined.context("a sign-up task panicked")?;
            answers[index] = answer?;
        }
    }
    Ok(answers)
}

/// Marks the addresses of `usernames` verified in auth's database.
async fn mark_verified(auth_db_url: &str, usernames: &[String]) -> anyhow::Result<()> {
    let db = open_database(auth_db_url).await?;
    for username in usernames {
        let updated = sqlx::query("UPDATE accounts SET email_verified = $1 WHERE username = $2")
            .bind(true)
            .bind(username)
            .execute(db.pool())
            .await
            .context("mark an address verified")?
            .rows_affected();
        anyhow::ensure!(updated == 1, "auth has no account {username}");
    }
    db.close().await;
    Ok(())
}

/// A one-connection pool on the database at `url` (SQLite or PostgreSQL), tried a few times:
/// on a busy shared server the first connection may time out.
pub async fn open_database(url: &str) -> anyhow::Result<gigmesh_db::Db> {
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    loop {
        match gigmesh_db::Db::connect(url, 1).await {
            Ok(db) => return Ok(db),
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(attempt, error = %error, "cannot open the database yet");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot open the database at {url}"));
            }
        }
    }
}

/// A published, approved gig of a seller orders has never heard of otherwise, with one
/// basic package and no requirements, as the gig service's snapshot carries it.
pub fn benchmark_gig() -> gigs::Gig {
    let gig_id = uuid::Uuid::now_v7().to_string();
    gigs::Gig {
        id: gig_id.clone(),
        seller_id: uuid::Uuid::now_v7().to_string(),
        slug: format!("benchmark-logo-{gig_id}"),
        title: "Minimalist logo design for your brand".to_owned(),
        description: "Three concepts, vector files and a style sheet.".to_owned(),
        category_id: "graphics-design".to_owned(),
        subcategory_id: "logo-design".to_owned(),
        tags: vec!["logo".to_owned()],
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "Basic".to_owned(),
            description: "One concept".to_owned(),
            price: Some(types::Money {
                amount_minor: PACKAGE_PRICE,
                currency: "USD".to_owned(),
            }),
            delivery_days: 3,
            revisions: 2,
            ..Default::default()
        }],
        state: gigs::GigState::Active as i32,
        moderation_state: gigs::ModerationState::Approved as i32,
        ..Default::default()
    }
}

/// Publishes `gig`'s `GigChanged` (published, version 1) on the Kafka bus at `brokers`,
/// keyed by the gig id, as the gig service's outbox relay does; returns the gig id.
pub async fn publish_gig(brokers: &str, gig: gigs::Gig) -> anyhow::Result<String> {
    let bus = gigmesh_runtime::process::open_bus(&BusConfig {
        kind: BusKind::Kafka,
        kafka_brokers: brokers.to_owned(),
        ..BusConfig::default()
    })
    .await?;
    let gig_id = gig.id.clone();
    let event = gigs::GigChanged {
        change: gigs::GigChange::Published as i32,
        gig: Some(gig),
        version: 1,
    };
    let envelope = new_envelope(&gig_id, &event);
    bus.ensure_topics(&[gigs::TOPIC]).await?;
    bus.publish(OutgoingRecord {
        topic: gigs::TOPIC.to_owned(),
        key: gig_id.clone(),
        payload: envelope.encode_to_vec(),
        headers: vec![("event_type".to_owned(), envelope.event_type.into_bytes())],
    })
    .await
    .context("publish GigChanged")?;
    Ok(gig_id)
}

/// A PlaceOrder request of `gig_id`'s basic package with a fresh request id.
pub fn place_request(gig_id: &str) -> orders::PlaceOrderRequest {
    orders::PlaceOrderRequest {
        gig_id: gig_id.to_owned(),
        tier: gigs::PackageTier::Basic as i32,
        extras: Vec::new(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

/// Places orders of `gig_id` as `buyer_token` until one is placed (NOT_FOUND while orders
/// has not learnt the gig yet); returns the order's id.
pub async fn wait_until_orderable(
    gateway: SocketAddr,
    gig_id: &str,
    buyer_token: &str,
) -> anyhow::Result<String> {
    let mut orders = OrderServiceClient::new(connect(gateway).await?);
    let deadline = Instant::now() + ORDERABLE_TIMEOUT;
    loop {
        match orders
            .place_order(signed(place_request(gig_id), buyer_token)?)
            .await
        {
            Ok(order) => return Ok(order.into_inner().id),
            Err(status) if status.code() == Code::NotFound => {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "orders did not learn gig {gig_id} within {ORDERABLE_TIMEOUT:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => return Err(status).context("PlaceOrder"),
        }
    }
}

/// GetOrderPayment, polled every `interval` until payments knows the order (it learns it
/// from orders' `OrderChanged`).
pub async fn wait_for_payment(
    payments_client: &mut PaymentServiceClient<Channel>,
    buyer_token: &str,
    order_id: &str,
    interval: Duration,
) -> anyhow::Result<payments::OrderPayment> {
    let deadline = Instant::now() + PAYMENT_TIMEOUT;
    loop {
        let answer = payments_client
            .get_order_payment(signed(
                payments::GetOrderPaymentRequest {
                    order_id: order_id.to_owned(),
                },
                buyer_token,
            )?)
            .await;
        match answer {
            Ok(payment) => return Ok(payment.into_inner()),
            Err(status) if status.code() == Code::NotFound => {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "payments did not learn order {order_id} within {PAYMENT_TIMEOUT:?}"
                );
                tokio::time::sleep(interval).await;
            }
            Err(status) => return Err(status).context("GetOrderPayment"),
        }
    }
}

/// Milliseconds since the Unix epoch of a protobuf timestamp.
pub fn timestamp_millis(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp.seconds * 1_000 + i64::from(timestamp.nanos) / 1_000_000
}
