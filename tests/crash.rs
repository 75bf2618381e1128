//! The crash test, in distributed mode: 300 orders driven through their lifecycles while
//! the orders, payments and notifications processes are killed with SIGKILL at random and
//! started again. Once the chaos stops and the system is quiet, every order is in the
//! state its lifecycle leads to with the timeline it should have, the ledger balances and
//! holds exactly what the orders say (no settlement or payment applied twice), every paid
//! order has one succeeded payment and at most the one refund its close asks for, the
//! invoices are numbered without a gap or a second issue, and every buyer has exactly one
//! receipt per paid order. Mail is sent at least once: a notification service killed
//! between handing a mail to SMTP and committing sends it again, with the same Message-ID
//! (derived from the event and the recipient), which mail clients show as one message; so a
//! receipt is one Message-ID, and copies of it are counted apart and reported.
//!
//! The seed (printed) plans the orders and the kills; `GIGMESH_CRASH_SEED=<seed>` replays
//! the same plan and kill sequence (the timing of the kills against the orders differs from
//! run to run).

// Not every flow that support re-exports runs here.
#[allow(unused_imports)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gigmesh_proto::orders::{self, OrderState, TimelineKind};
use gigmesh_proto::payments;
use support::flows::methods::GET_INVOICE;
use support::load::{
    self, DrivenOrder, Lifecycle, Marketplace, SeededRng, ledger_summary, minor, payment_records,
    read_order,
};
use support::mesh::DistributedMesh;
use support::rpc::{Protocol, Rpc};

/// Orders driven.
const ORDER_COUNT: usize = 300;
/// Buyers placing them.
const BUYER_COUNT: usize = 30;
/// Orders in flight at once.
const CONCURRENCY: usize = 24;
/// The processes the chaos kills.
const CHAOS_TARGETS: [&str; 3] = ["orders", "payments", "notifications"];
/// The fewest kills of a run (the chaos goes on until the drivers finish, and at least
/// until it made this many).
const MIN_KILLS: usize = 10;
/// The pause between two kills (long enough for the event consumers to settle their
/// groups again in between, mostly), and how long a killed process stays down.
const PAUSE_BETWEEN_KILLS: (Duration, Duration) =
    (Duration::from_millis(5_000), Duration::from_millis(10_000));
const DOWNTIME: (Duration, Duration) = (Duration::ZERO, Duration::from_millis(2_000));
/// How long the system may take to become quiet after the chaos: a refund or cancellation
/// claimed by a process that was killed waits out its lease (60 s) before it is retried.
const QUIET_DEADLINE: Duration = Duration::from_secs(150);
/// How long the mailbox must stay unchanged before the receipts are counted, and how long
/// the mail may take to arrive after the system is quiet (the notification service sends
/// one mail at a time, and the chaos leaves it a backlog of a minute or two). On a CI
/// machine busy with other tests, one run was still 20 receipts short after 180 s, the
/// orders of one stretch of the run: the deadline leaves room for a consumer group that
/// tansu is slow to settle after the last kills.
const MAIL_STILLNESS: Duration = Duration::from_secs(5);
const MAIL_DEADLINE: Duration = Duration::from_secs(300);
/// Each service's database pool: the mesh's seven services share one PostgreSQL server (at
/// most 100 connections) with the other tests that run beside this one, and a process that
/// cannot connect when it is started again fails the test.
const DATABASE_POOLS: [(&str, u32); 7] = [
    ("auth", 2),
    ("users", 2),
    ("notifications", 2),
    ("gigs", 2),
    ("search", 2),
    ("orders", 5),
    ("payments", 5),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_keep_their_money_and_mail_through_killed_services() {
    let seed = load::seed_from_environment();
    eprintln!("crash test seed {seed} (replay with GIGMESH_CRASH_SEED={seed})");
    let started = Instant::now();
    let pools: Vec<(&str, String, String)> = DATABASE_POOLS
        .iter()
        .map(|(service, size)| {
            (
                *service,
                format!(
                    "GIGMESH__{}__DATABASE__MAX_CONNECTIONS",
                    service.to_uppercase()
                ),
                size.to_string(),
            )
        })
        .collect();
    let settings: Vec<(&str, &str, String)> = pools
        .iter()
        .map(|(service, name, size)| (*service, name.as_str(), size.clone()))
        .collect();
    let mut mesh = DistributedMesh::start_with(&settings).await;
    let rpc = Rpc::connect(mesh.address, Protocol::Grpc).await;
    let market = Arc::new(Marketplace::open(&mesh, &rpc, BUYER_COUNT).await);
    let plans = load::plan_orders(seed, ORDER_COUNT, &market);
    eprintln!(
        "mesh and marketplace ready after {:.1?}: {} sellers, {} buyers",
        started.elapsed(),
        market.sellers.len(),
        market.buyers.len()
    );

    let driving = Instant::now();
    let finished = Arc::new(AtomicUsize::new(0));
    let drivers = tokio::spawn(load::drive_all(
        rpc.clone(),
        Arc::clone(&market),
        plans,
        CONCURRENCY,
        seed,
        Arc::clone(&finished),
    ));
    let kills = chaos(&mut mesh, seed, &drivers, &finished).await;
    let results = drivers.await.expect("the drivers end without a panic");
    let kill_list: Vec<String> = kills
        .iter()
        .map(|kill| format!("{} {:.1?}", kill.name, kill.downtime))
        .collect();
    eprintln!(
        "{ORDER_COUNT} orders driven in {:.1?} through {} kills ({})",
        driving.elapsed(),
        kills.len(),
        kill_list.join(", ")
    );
    let mut failures = Vec::new();
    let mut driven = Vec::new();
    for result in results {
        match result {
            Ok(order) => driven.push(order),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ORDER_COUNT} orders could not be driven:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(kills.len() >= MIN_KILLS, "only {} kills", kills.len());
    summarise(&driven);

    let quiet = Instant::now();
    let finals = wait_until_quiet(&rpc, &market, &driven).await;
    eprintln!(
        "orders, payments and the ledger agree after {:.1?}",
        quiet.elapsed()
    );
    check_invoices(&rpc, &market, &driven).await;
    let settling = Instant::now();
    check_receipts(&mesh, &market, &driven, &finals, &kills).await;
    eprintln!(
        "receipts counted after {:.1?}; the whole test took {:.1?}",
        settling.elapsed(),
        started.elapsed()
    );
}

/// One kill of the chaos.
struct Kill {
    name: &'static str,
    downtime: Duration,
    /// When the SIGKILL was sent (unix milliseconds), to set beside the mail's times.
    unix_millis: u64,
}

/// Now, in unix milliseconds.
fn unix_millis_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Kills one of [`CHAOS_TARGETS`] at random with SIGKILL, lets it stay down a moment and
/// starts it again, over and over, until the drivers are done and at least [`MIN_KILLS`]
/// kills were made; never stops between a kill and its restart, so every process serves
/// when it returns. Returns what it did, one entry per kill.
async fn chaos<T>(
    mesh: &mut DistributedMesh,
    seed: u64,
    drivers: &tokio::task::JoinHandle<T>,
    finished: &AtomicUsize,
) -> Vec<Kill> {
    let mut rng = SeededRng::new(seed ^ 0x00C4_A05C_4A05_C4A0);
    let mut kills = Vec::new();
    let began = Instant::now();
    loop {
        let pause = rng.duration_between(PAUSE_BETWEEN_KILLS.0, PAUSE_BETWEEN_KILLS.1);
        let pause_began = Instant::now();
        while pause_began.elapsed() < pause {
            if drivers.is_finished() && kills.len() >= MIN_KILLS {
                return kills;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let name = *rng.pick(&CHAOS_TARGETS);
        let downtime = rng.duration_between(DOWNTIME.0, DOWNTIME.1);
        let unix_millis = unix_millis_now();
        mesh.kill(name).await;
        tokio::time::sleep(downtime).await;
        let restarting = Instant::now();
        restart(mesh, name).await;
        eprintln!(
            "{:>6.1?} kill {}: {name} down {downtime:.1?}, serving again {:.1?} after; \
             {}/{ORDER_COUNT} orders driven",
            began.elapsed(),
            kills.len() + 1,
            restarting.elapsed(),
            finished.load(Ordering::SeqCst)
        );
        kills.push(Kill {
            name,
            downtime,
            unix_millis,
        });
    }
}

/// Starts `name` again once the shared PostgreSQL server has room for its connections; a
/// start that fails because the server is full after all (its neighbours took the room) is
/// tried again, as Kubernetes starts a crashed container again. Any other failure fails
/// the test.
async fn restart(mesh: &mut DistributedMesh, name: &str) {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let waiting = Instant::now();
        wait_for_database_room(mesh).await;
        if waiting.elapsed() > Duration::from_secs(1) {
            eprintln!(
                "waited {:.1?} for room on the database server to start {name}",
                waiting.elapsed()
            );
        }
        let started = CatchUnwind(Box::pin(mesh.restart(name))).await;
        let Err(panic) = started else {
            return;
        };
        let logs = mesh.logs();
        let own_log = logs
            .split(&format!("----- gigmesh {name} -----"))
            .nth(1)
            .and_then(|rest| rest.split("\n----- ").next())
            .unwrap_or_default();
        let last_lines: Vec<&str> = own_log.lines().rev().take(5).collect();
        if attempt == ATTEMPTS
            || !last_lines
                .iter()
                .any(|line| line.contains("too many clients"))
        {
            std::panic::resume_unwind(panic);
        }
        eprintln!(
            "{name} could not connect to its database (the server is full); starting it again"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits up to 30 s until the PostgreSQL server has room for [`ROOM_FOR_A_START`] more
/// connections.
async fn wait_for_database_room(mesh: &DistributedMesh) {
    const ROOM_FOR_A_START: i64 = 10;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let room: Result<i64, _> = sqlx::query_scalar(
            "SELECT CAST(current_setting('max_connections') AS BIGINT) - COUNT(*) \
             FROM pg_stat_activity",
        )
        .fetch_one(mesh.databases[0].db().pool())
        .await;
        if room.is_ok_and(|room| room >= ROOM_FOR_A_START) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A future that answers a panic of the future it wraps as `Err`, so that a failed start
/// can be told apart and tried again.
struct CatchUnwind<'a, T>(Pin<Box<dyn Future<Output = T> + 'a>>);

impl<T> Future for CatchUnwind<'_, T> {
    type Output = std::thread::Result<T>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(context))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Prints how many orders took each lifecycle and how many calls were retried.
fn summarise(driven: &[DrivenOrder]) {
    let mut lifecycles: BTreeMap<&str, usize> = BTreeMap::new();
    for order in driven {
        *lifecycles.entry(order.plan.lifecycle.name()).or_default() += 1;
    }
    let retries: u32 = driven.iter().map(|order| order.retries).sum();
    eprintln!("lifecycles {lifecycles:?}; {retries} calls retried after an outage");
}

/// What one look at the system found: what is not there yet (it may still arrive) and
/// what is wrong for good (a second effect, a wrong state or amount).
#[derive(Default)]
struct Findings {
    pending: Vec<String>,
    broken: Vec<String>,
}

/// Looks until every order, its payments and the ledger are as the lifecycles say, or
/// something is wrong for good, or [`QUIET_DEADLINE`] passes; returns every order as its
/// buyer reads it then.
async fn wait_until_quiet(
    rpc: &Rpc,
    market: &Arc<Marketplace>,
    driven: &[DrivenOrder],
) -> Vec<orders::Order> {
    let deadline = Instant::now() + QUIET_DEADLINE;
    let mut last_report = Instant::now();
    loop {
        let (findings, finals) = look(rpc, market, driven).await;
        assert!(
            findings.broken.is_empty(),
            "{} problems:\n{}",
            findings.broken.len(),
            findings.broken.join("\n")
        );
        if findings.pending.is_empty() {
            return finals;
        }
        assert!(
            Instant::now() < deadline,
            "not quiet after {QUIET_DEADLINE:?}: {} things missing:\n{}",
            findings.pending.len(),
            findings.pending.join("\n")
        );
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "not quiet yet: {} things missing, such as {}",
                findings.pending.len(),
                findings.pending[0]
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One look at every order, its payment records and the ledger.
async fn look(
    rpc: &Rpc,
    market: &Arc<Marketplace>,
    driven: &[DrivenOrder],
) -> (Findings, Vec<orders::Order>) {
    let mut findings = Findings::default();
    let mut reads = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    for (index, order) in driven.iter().enumerate() {
        let rpc = rpc.clone();
        let market = Arc::clone(market);
        let limit = Arc::clone(&limit);
        let order_id = order.order_id.clone();
        let buyer = order.plan.buyer;
        reads.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            let read = read_order(&rpc, &market.buyers[buyer], &order_id).await;
            let records = payment_records(&rpc, &market.admin, &order_id).await;
            (index, read, records)
        });
    }
    let mut answers = reads.join_all().await;
    answers.sort_by_key(|(index, ..)| *index);
    let mut finals = Vec::new();
    for ((_, read, records), expected) in answers.into_iter().zip(driven) {
        let order = read.unwrap_or_else(|status| panic!("read {}: {status:?}", expected.order_id));
        let records = records
            .unwrap_or_else(|status| panic!("payments of {}: {status:?}", expected.order_id));
        check_order(expected, &order, &mut findings);
        check_payment_records(expected, &order, &records, &mut findings);
        finals.push(order);
    }
    check_ledger(rpc, market, driven, &finals, &mut findings).await;
    (findings, finals)
}

/// The order's state, timeline and amounts are what its lifecycle leads to.
fn check_order(expected: &DrivenOrder, order: &orders::Order, findings: &mut Findings) {
    let name = format!(
        "order #{} {} ({})",
        expected.plan.index,
        expected.order_id,
        expected.plan.lifecycle.name()
    );
    if !expected.expected_states.contains(&order.state()) {
        findings.broken.push(format!(
            "{name} is {:?}, expected one of {:?}",
            order.state(),
            expected.expected_states
        ));
    }
    let timeline: Vec<TimelineKind> = order.timeline.iter().map(|entry| entry.kind()).collect();
    let mut expired = expected.expected_timeline.clone();
    expired.push(TimelineKind::Expired);
    let timeline_fits = timeline == expected.expected_timeline
        || (matches!(expected.plan.lifecycle, Lifecycle::Unpaid { .. }) && timeline == expired);
    if !timeline_fits {
        findings.broken.push(format!(
            "{name} has the timeline {timeline:?}, expected {:?}",
            expected.expected_timeline
        ));
    }
    if minor(&order.refunded) != expected.expected_refund_minor {
        findings.broken.push(format!(
            "{name} refunded {}, expected {}",
            minor(&order.refunded),
            expected.expected_refund_minor
        ));
    }
    if let Some(seller_paid) = expected.expected_seller_paid_minor
        && minor(&order.seller_paid) != seller_paid
    {
        findings.broken.push(format!(
            "{name} paid the seller {}, expected {seller_paid}",
            minor(&order.seller_paid)
        ));
    }
    if minor(&order.refunded) + minor(&order.seller_paid) > expected.total_minor {
        findings.broken.push(format!(
            "{name} hands out {} + {} of a total of {}",
            minor(&order.refunded),
            minor(&order.seller_paid),
            expected.total_minor
        ));
    }
}

/// Paid orders have exactly one succeeded payment of their total and exactly the refund
/// their close asks for (none otherwise); unpaid ones a payment only if it was asked for,
/// never succeeded, and cancelled once the order is.
fn check_payment_records(
    expected: &DrivenOrder,
    order: &orders::Order,
    records: &[payments::PaymentRecord],
    findings: &mut Findings,
) {
    let name = format!(
        "order #{} {} ({})",
        expected.plan.index,
        expected.order_id,
        expected.plan.lifecycle.name()
    );
    let payments: Vec<_> = records
        .iter()
        .filter(|record| record.kind == "payment")
        .collect();
    let refunds: Vec<_> = records
        .iter()
        .filter(|record| record.kind == "refund")
        .collect();
    if records.len() != payments.len() + refunds.len() {
        findings.broken.push(format!(
            "{name} has money records of another kind: {records:?}"
        ));
    }
    if payments.len() > 1 || (expected.opened_payment && payments.is_empty()) {
        findings.broken.push(format!(
            "{name} has {} payments, expected {}: {payments:?}",
            payments.len(),
            u8::from(expected.opened_payment)
        ));
    }
    if !expected.opened_payment && !payments.is_empty() {
        findings
            .broken
            .push(format!("{name} was never paid for, yet: {payments:?}"));
    }
    if let Some(payment) = payments.first() {
        let status = payment.status.as_str();
        if expected.is_paid() {
            if status != "succeeded" || minor(&payment.amount) != expected.total_minor {
                findings.broken.push(format!(
                    "{name}: payment {status} of {}, expected succeeded of {}",
                    minor(&payment.amount),
                    expected.total_minor
                ));
            }
        } else if status == "succeeded" {
            findings
                .broken
                .push(format!("{name} was never paid, yet its payment succeeded"));
        } else if matches!(order.state(), OrderState::Cancelled | OrderState::Expired)
            && status != "canceled"
        {
            findings
                .pending
                .push(format!("{name}: its payment is {status}, not canceled yet"));
        }
    }
    if expected.expected_refund_minor == 0 {
        if !refunds.is_empty() {
            findings
                .broken
                .push(format!("{name} owes no refund, yet: {refunds:?}"));
        }
    } else {
        match refunds.as_slice() {
            [] => findings
                .pending
                .push(format!("{name}: no refund recorded yet")),
            [refund] if minor(&refund.amount) != expected.expected_refund_minor => {
                findings.broken.push(format!(
                    "{name}: refund of {}, expected {}",
                    minor(&refund.amount),
                    expected.expected_refund_minor
                ));
            }
            [refund] if refund.status != "succeeded" => findings
                .pending
                .push(format!("{name}: its refund is {}", refund.status)),
            [_] => {}
            more => findings.broken.push(format!(
                "{name} was refunded {} times: {more:?}",
                more.len()
            )),
        }
    }
}

/// The ledger balances and holds exactly what the orders say: the buyers' totals came in
/// through clearing, the refunds and the sellers' earnings the orders report went out, the
/// marketplace kept the rest, and no escrow is left.
async fn check_ledger(
    rpc: &Rpc,
    market: &Marketplace,
    driven: &[DrivenOrder],
    finals: &[orders::Order],
    findings: &mut Findings,
) {
    let summary = match ledger_summary(rpc, &market.admin).await {
        Ok(summary) => summary,
        Err(status) if load::is_transient(&status) => {
            findings
                .pending
                .push(format!("the ledger summary: {status:?}"));
            return;
        }
        Err(status) => panic!("the ledger summary: {status:?}"),
    };
    if !summary.balanced || !summary.violations.is_empty() {
        findings.pending.push(format!(
            "the ledger is not balanced: {:?}",
            summary.violations
        ));
    }
    let paid: Vec<(&DrivenOrder, &orders::Order)> = driven
        .iter()
        .zip(finals)
        .filter(|(expected, _)| expected.is_paid())
        .collect();
    let collected: i64 = paid.iter().map(|(expected, _)| expected.total_minor).sum();
    let refunded: i64 = paid.iter().map(|(_, order)| minor(&order.refunded)).sum();
    let earned: i64 = paid
        .iter()
        .map(|(_, order)| minor(&order.seller_paid))
        .sum();
    let expected_balances = [
        ("clearing", -collected),
        ("escrow", 0),
        ("refunds", refunded),
        ("seller_pending", earned),
        ("seller_available", 0),
        ("platform_fees", collected - refunded - earned),
        ("payouts", 0),
    ];
    let posted: BTreeMap<&str, i64> = summary
        .balances
        .iter()
        .map(|balance| (balance.account_kind.as_str(), minor(&balance.posted)))
        .collect();
    for (kind, amount) in expected_balances {
        let actual = posted.get(kind).copied().unwrap_or(0);
        if actual != amount {
            findings.pending.push(format!(
                "the ledger's {kind} holds {actual}, the orders say {amount} (summary {:?})",
                summary.balances
            ));
        }
    }
}

/// Every paid order has its invoice of its total, and the invoice numbers run from 1 to
/// the number of paid orders: none was issued twice (a second issue would take a number)
/// and none is missing.
async fn check_invoices(rpc: &Rpc, market: &Marketplace, driven: &[DrivenOrder]) {
    let mut numbers = Vec::new();
    for order in driven.iter().filter(|order| order.is_paid()) {
        let buyer = &market.buyers[order.plan.buyer];
        let invoice: payments::Invoice = load::call(
            rpc,
            GET_INVOICE,
            payments::GetInvoiceRequest {
                order_id: order.order_id.clone(),
            },
            Some(&buyer.access_token),
        )
        .await
        .unwrap_or_else(|status| panic!("the invoice of {}: {status:?}", order.order_id));
        assert_eq!(invoice.order_id, order.order_id);
        assert_eq!(
            minor(&invoice.total),
            order.total_minor,
            "the invoice of {}",
            order.order_id
        );
        let sequence: u64 = invoice
            .number
            .rsplit('-')
            .next()
            .and_then(|sequence| sequence.parse().ok())
            .unwrap_or_else(|| panic!("invoice number {:?}", invoice.number));
        numbers.push(sequence);
    }
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(
        numbers,
        expected,
        "invoice numbers of the {} paid orders",
        expected.len()
    );
}

/// Waits until every paid order's receipt is in its buyer's mailbox and the mailbox has
/// stood still for [`MAIL_STILLNESS`] (the notification service retries what a crash cut
/// short), then counts: exactly one receipt (one Message-ID) per paid order, to its buyer,
/// none for an unpaid order, and as many per buyer as they paid orders.
async fn check_receipts(
    mesh: &DistributedMesh,
    market: &Marketplace,
    driven: &[DrivenOrder],
    finals: &[orders::Order],
    kills: &[Kill],
) {
    let maildir = mesh.mail_directory();
    let began = Instant::now();
    let deadline = Instant::now() + MAIL_DEADLINE;
    let mut seen = usize::MAX;
    let mut still_since = Instant::now();
    loop {
        let messages = load::read_maildir(&maildir);
        if messages.len() != seen {
            seen = messages.len();
            still_since = Instant::now();
        }
        let receipts = receipts_by_order(&messages);
        let missing: Vec<String> = driven
            .iter()
            .filter(|order| order.is_paid() && !receipts.contains_key(order.order_id.as_str()))
            .map(|order| format!("order #{} {}", order.plan.index, order.order_id))
            .collect();
        if missing.is_empty() && still_since.elapsed() >= MAIL_STILLNESS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {MAIL_DEADLINE:?}, {} paid orders have no receipt (the mailbox holds {} \
             messages): {}",
            missing.len(),
            messages.len(),
            missing.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let messages = load::read_maildir(&maildir);
    let receipts = receipts_by_order(&messages);
    let mut problems = Vec::new();
    let mut resent = Vec::new();
    let mut paid_per_buyer = vec![0usize; market.buyers.len()];
    for (order, final_order) in driven.iter().zip(finals) {
        let buyer = &market.buyers[order.plan.buyer];
        let name = format!(
            "order #{} {} ({}, {:?})",
            order.plan.index,
            order.order_id,
            order.plan.lifecycle.name(),
            final_order.state()
        );
        let found = receipts
            .get(order.order_id.as_str())
            .cloned()
            .unwrap_or_default();
        let expected = usize::from(order.is_paid());
        paid_per_buyer[order.plan.buyer] += expected;
        let distinct: BTreeSet<&str> = found.iter().map(|mail| mail.message_id.as_str()).collect();
        if distinct.len() != expected || distinct.contains("") {
            problems.push(format!(
                "{name}: {} receipts ({} copies), expected {expected}: {}",
                distinct.len(),
                found.len(),
                describe_copies(&found, kills)
            ));
        } else if found.len() > distinct.len() {
            resent.push(format!("{name}: {}", describe_copies(&found, kills)));
        }
        for mail in found.iter().filter(|mail| !mail.to.contains(&buyer.email)) {
            problems.push(format!(
                "{name}: its receipt went to {}, not to its buyer {}",
                mail.to, buyer.email
            ));
        }
    }
    for (index, buyer) in market.buyers.iter().enumerate() {
        let received = messages
            .iter()
            .filter(|mail| mail.subject.starts_with("Receipt:") && mail.to.contains(&buyer.email))
            .map(|mail| mail.message_id.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        if received != paid_per_buyer[index] {
            problems.push(format!(
                "buyer {} has {received} receipts for {} paid orders",
                buyer.email, paid_per_buyer[index]
            ));
        }
    }
    if !resent.is_empty() {
        eprintln!(
            "{} receipts were sent again after a crash, with the same Message-ID:\n{}",
            resent.len(),
            resent.join("\n")
        );
    }
    let receipt_count: usize = receipts.values().map(Vec::len).sum();
    eprintln!(
        "after {:.1?}, {receipt_count} receipts among {} messages for {} paid orders",
        began.elapsed(),
        messages.len(),
        driven.iter().filter(|order| order.is_paid()).count()
    );
    assert!(
        problems.is_empty(),
        "{} problems with receipts:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// When each of `copies` was delivered, and the kills of the notification service within
/// three seconds of a delivery (mail handed to SMTP just before a kill is sent again).
fn describe_copies(copies: &[&load::MailMessage], kills: &[Kill]) -> String {
    copies
        .iter()
        .map(|mail| {
            let delivered = delivery_unix_millis(&mail.file);
            let near: Vec<String> = kills
                .iter()
                .filter(|kill| kill.name == "notifications")
                .filter_map(|kill| {
                    let delivered = delivered?;
                    let offset = kill.unix_millis as i64 - delivered as i64;
                    (offset.abs() <= 3_000).then(|| format!("killed {offset:+} ms later"))
                })
                .collect();
            format!(
                "{} (delivered at {delivered:?} unix ms; notifications {})",
                mail.file,
                if near.is_empty() {
                    "not killed near then".to_owned()
                } else {
                    near.join(", ")
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The delivery time of a maildir file, from its name (`<seconds>.M<microseconds>P…`).
fn delivery_unix_millis(file: &str) -> Option<u64> {
    let name = std::path::Path::new(file).file_name()?.to_str()?;
    let (seconds, rest) = name.split_once('.')?;
    let micros: String = rest
        .strip_prefix('M')?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(seconds.parse::<u64>().ok()? * 1_000 + micros.parse::<u64>().ok()? / 1_000)
}

/// The receipts in `messages` by the order id their subject names
/// (`Receipt: $52.75 paid for order <id>`).
fn receipts_by_order(messages: &[load::MailMessage]) -> BTreeMap<&str, Vec<&load::MailMessage>> {
    let mut receipts: BTreeMap<&str, Vec<&load::MailMessage>> = BTreeMap::new();
    for mail in messages
        .iter()
        .filter(|mail| mail.subject.starts_with("Receipt:"))
    {
        let order_id = mail.subject.rsplit(' ').next().unwrap_or_default().trim();
        receipts.entry(order_id).or_default().push(mail);
    }
    receipts
}
