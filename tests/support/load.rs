//! The load of the crash test, driven through the gateway: a marketplace of sellers with
//! published gigs and many buyers; orders whose lifecycles a seeded generator picks
//! (completed with revisions, cancelled by mutual agreement, disputed and resolved by an
//! admin, cancelled before payment, left unpaid); each order driven step by step through
//! outages and event lag, every step retried until its effect shows and made idempotent
//! from the client's side (the order is read again before a transition is retried, and
//! PlaceOrder carries a request id); what every order must end as; and the mail the mesh
//! sent, read back from the SMTP server's maildir.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gigmesh_proto::orders::{self, OrderState, TimelineKind};
use gigmesh_proto::payments::{self, PaymentStatus};
use gigmesh_proto::types::Money;
use gigmesh_proto::{gigs, users};
use tonic::{Code, Status};

use super::flows::methods::{
    ACCEPT_DELIVERY, ANSWER_CANCELLATION, BECOME_SELLER, CANCEL_ORDER, CONFIRM_SANDBOX_PAYMENT,
    DELIVER_ORDER, GET_LEDGER_SUMMARY, GET_ORDER, GET_ORDER_PAYMENT, LIST_PAYMENTS, OPEN_DISPUTE,
    PLACE_ORDER, REQUEST_CANCELLATION, REQUEST_REVISION, RESOLVE_DISPUTE, SUBMIT_REQUIREMENTS,
};
use super::flows::{
    NewAccount, create_and_publish_gig, refresh_until_role, sign_up_and_verify, wait_for_profile,
};
use super::mesh::DistributedMesh;
use super::rpc::Rpc;

/// The sandbox's card that succeeds.
const TEST_CARD: &str = "4242424242424242";
/// Longest wait for one call; a call that takes longer is abandoned and counted as an
/// outage (its effect may still have happened, which the next read shows).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time one step of an order may take, outages and event lag included.
pub const STEP_DEADLINE: Duration = Duration::from_secs(120);
/// The first pause before a step looks again; it grows by half up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_millis(1_000);

/// A small seeded generator (SplitMix64): the same seed plans the same orders and the same
/// kills.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// True with `percent` percent probability.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration between `low` and `high` (inclusive), to the millisecond.
    pub fn duration_between(&mut self, low: Duration, high: Duration) -> Duration {
        let low_millis = low.as_millis() as u64;
        let high_millis = high.as_millis() as u64;
        Duration::from_millis(low_millis + self.below(high_millis - low_millis + 1))
    }

    /// One of `choices`.
    pub fn pick<'a, T>(&mut self, choices: &'a [T]) -> &'a T {
        &choices[self.below(choices.len() as u64) as usize]
    }
}

/// The seed of this run: `GIGMESH_CRASH_SEED` when set (to replay a run), else the clock.
pub fn seed_from_environment() -> u64 {
    match std::env::var("GIGMESH_CRASH_SEED") {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|error| panic!("GIGMESH_CRASH_SEED={value:?} is not a u64: {error}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64,
    }
}

/// Whether a call's failure is an outage or a lost answer, to be retried: the gateway
/// answers UNAVAILABLE while a service is down, a connection cut mid-call surfaces as
/// UNKNOWN or CANCELLED, and [`call`] answers DEADLINE_EXCEEDED for a call that hangs.
pub fn is_transient(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable
        | Code::Aborted
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::ResourceExhausted => true,
        Code::Internal => {
            let message = status.message().to_ascii_lowercase();
            [
                "transport",
                "connection",
                "reset",
                "broken pipe",
                "h2 protocol",
            ]
            .iter()
            .any(|word| message.contains(word))
        }
        _ => false,
    }
}

/// One call through the gateway, abandoned after [`CALL_TIMEOUT`].
pub async fn call<Request, Response>(
    rpc: &Rpc,
    path: &'static str,
    request: Request,
    token: Option<&str>,
) -> Result<Response, Status>
where
    Request: prost::Message + Send + Sync + 'static,
    Response: prost::Message + Default + Send + Sync + 'static,
{
    match tokio::time::timeout(CALL_TIMEOUT, rpc.call(path, request, token)).await {
        Ok(answer) => answer,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "{path} gave no answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

/// The pauses of one step: short at first, growing up to [`LONGEST_PAUSE`], and a deadline.
struct Patience {
    started: Instant,
    pause: Duration,
}

impl Patience {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            pause: FIRST_PAUSE,
        }
    }

    fn exhausted(&self) -> bool {
        self.started.elapsed() > STEP_DEADLINE
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 3 / 2).min(LONGEST_PAUSE);
    }
}

/// A signed-in party of the marketplace.
#[derive(Debug, Clone)]
pub struct Party {
    pub user_id: String,
    pub email: String,
    pub access_token: String,
}

/// A published gig as orders see it: its seller, package and extras, and its questions.
#[derive(Debug, Clone)]
pub struct Offer {
    pub gig_id: String,
    /// Index of the seller in [`Marketplace::sellers`].
    pub seller: usize,
    pub package_price_minor: i64,
    pub revisions: i32,
    /// Id and price of each extra.
    pub extras: Vec<(String, i64)>,
    /// The gig's requirement questions.
    pub requirements: Vec<gigs::Requirement>,
}

/// The sellers with their gigs, the buyers, and an admin who resolves disputes and reads
/// the money.
#[derive(Debug)]
pub struct Marketplace {
    pub admin: Party,
    pub sellers: Vec<Party>,
    pub buyers: Vec<Party>,
    pub offers: Vec<Offer>,
}

/// The gig each seller publishes: title, package price and revisions, extras (title and
/// price), and requirement questions (question, kind, options, required).
struct GigSpec {
    title: &'static str,
    package_price_minor: i64,
    revisions: i32,
    extras: &'static [(&'static str, i64)],
    requirements: &'static [(
        &'static str,
        gigs::RequirementKind,
        &'static [&'static str],
        bool,
    )],
}

const GIG_SPECS: [GigSpec; 5] = [
    GigSpec {
        title: "Hand-drawn illustration of your pet",
        package_price_minor: 5_000,
        revisions: 2,
        extras: &[("Express delivery", 1_500)],
        requirements: &[(
            "What is your pet's name?",
            gigs::RequirementKind::Text,
            &[],
            true,
        )],
    },
    GigSpec {
        title: "Minimalist logo for your small business",
        package_price_minor: 2_500,
        revisions: 1,
        extras: &[("Source files", 800), ("Social media kit", 1_200)],
        requirements: &[(
            "Which style do you prefer?",
            gigs::RequirementKind::MultipleChoice,
            &["flat", "line art", "vintage"],
            false,
        )],
    },
    GigSpec {
        title: "Proofreading of your English document",
        package_price_minor: 1_999,
        revisions: 2,
        extras: &[],
        requirements: &[],
    },
    GigSpec {
        title: "WordPress site speed optimisation",
        package_price_minor: 12_000,
        revisions: 2,
        extras: &[("Image compression", 2_000)],
        requirements: &[],
    },
    GigSpec {
        title: "Podcast episode editing and mastering",
        package_price_minor: 7_550,
        revisions: 2,
        extras: &[],
        requirements: &[
            (
                "Link to the raw recording",
                gigs::RequirementKind::Text,
                &[],
                true,
            ),
            (
                "Anything we should cut?",
                gigs::RequirementKind::Text,
                &[],
                false,
            ),
        ],
    },
];

/// `amount_minor` in US dollars.
pub fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

/// The minor units of `money` (0 when absent).
pub fn minor(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(0, |money| money.amount_minor)
}

impl Marketplace {
    /// Opens the marketplace on `mesh` through `rpc`: an admin (granted in auth's
    /// database), one seller per gig with the gig published and known to orders, and
    /// `buyer_count` buyers; sign-ups run a few at a time.
    pub async fn open(mesh: &DistributedMesh, rpc: &Rpc, buyer_count: usize) -> Self {
        let mail = mesh.mail_directory();
        let admin_account = NewAccount::unique("admin");
        let signed_in = sign_up_and_verify(rpc, &mail, &admin_account).await;
        let admin_id = signed_in.account.as_ref().expect("account").id.clone();
        mesh.grant_admin(&admin_id).await;
        let admin_tokens = refresh_until_role(
            rpc,
            signed_in.tokens.expect("tokens").refresh_token,
            "admin",
        )
        .await;
        let admin = Party {
            user_id: admin_id,
            email: admin_account.email,
            access_token: admin_tokens.access_token,
        };

        let sellers = sign_up_many(rpc, &mail, "seller", GIG_SPECS.len(), true).await;
        let mut offers = Vec::new();
        for (seller, spec) in GIG_SPECS.iter().enumerate() {
            offers.push(publish(rpc, seller, &sellers[seller], spec).await);
        }
        for offer in &offers {
            wait_until_orderable(rpc, &sellers[offer.seller], &offer.gig_id).await;
        }
        let buyers = sign_up_many(rpc, &mail, "buyer", buyer_count, false).await;
        Self {
            admin,
            sellers,
            buyers,
            offers,
        }
    }
}

/// Signs up `count` accounts named `prefix`, four at a time; sellers also become sellers.
async fn sign_up_many(
    rpc: &Rpc,
    mail: &Path,
    prefix: &'static str,
    count: usize,
    as_sellers: bool,
) -> Vec<Party> {
    const AT_ONCE: usize = 4;
    let mut parties = Vec::with_capacity(count);
    for start in (0..count).step_by(AT_ONCE) {
        let mut batch = tokio::task::JoinSet::new();
        for index in start..(start + AT_ONCE).min(count) {
            let rpc = rpc.clone();
            let mail = mail.to_owned();
            batch.spawn(async move {
                let party = signed_up_party(&rpc, &mail, prefix, as_sellers).await;
                (index, party)
            });
        }
        let mut done: Vec<(usize, Party)> = batch.join_all().await.into_iter().collect::<Vec<_>>();
        done.sort_by_key(|(index, _)| *index);
        parties.extend(done.into_iter().map(|(_, party)| party));
    }
    parties
}

/// A fresh account signed up, verified and signed in; a seller also becomes a seller and
/// signs in with a token that carries the role.
async fn signed_up_party(rpc: &Rpc, mail: &Path, prefix: &str, as_seller: bool) -> Party {
    let account = NewAccount::unique(prefix);
    let signed_in = sign_up_and_verify(rpc, mail, &account).await;
    let user_id = signed_in.account.as_ref().expect("account").id.clone();
    let tokens = signed_in.tokens.expect("tokens");
    wait_for_profile(rpc, &tokens.access_token).await;
    let access_token = if as_seller {
        let _: users::Profile = rpc
            .call(
                BECOME_SELLER,
                users::BecomeSellerRequest {
                    seller: Some(users::SellerProfile {
                        description: "Careful work, delivered on time.".to_owned(),
                        skills: vec!["design".to_owned()],
                        ..Default::default()
                    }),
                },
                Some(&tokens.access_token),
            )
            .await
            .expect("become a seller");
        refresh_until_role(rpc, tokens.refresh_token, "seller")
            .await
            .access_token
    } else {
        tokens.access_token
    };
    Party {
        user_id,
        email: account.email,
        access_token,
    }
}

/// Creates and publishes the gig of `spec` as `seller`.
async fn publish(rpc: &Rpc, seller_index: usize, seller: &Party, spec: &GigSpec) -> Offer {
    let gig = gigs::Gig {
        title: spec.title.to_owned(),
        description: format!("{}. Clear communication and fast delivery.", spec.title),
        category_id: "graphics-design".to_owned(),
        subcategory_id: "illustration".to_owned(),
        tags: vec!["crash".to_owned(), "test".to_owned()],
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "Basic".to_owned(),
            description: "The essentials".to_owned(),
            price: usd(spec.package_price_minor),
            delivery_days: 5,
            revisions: spec.revisions,
            features: vec!["source files".to_owned()],
        }],
        extras: spec
            .extras
            .iter()
            .map(|(title, price)| gigs::Extra {
                title: (*title).to_owned(),
                price: usd(*price),
                extra_days: 1,
                ..Default::default()
            })
            .collect(),
        gallery: vec![gigs::GalleryItem {
            kind: gigs::MediaKind::Image as i32,
            url: "https://cdn.example.com/cover.png".to_owned(),
            cover: true,
        }],
        requirements: spec
            .requirements
            .iter()
            .map(|(question, kind, options, required)| gigs::Requirement {
                question: (*question).to_owned(),
                kind: *kind as i32,
                options: options.iter().map(|option| (*option).to_owned()).collect(),
                required: *required,
            })
            .collect(),
        ..Default::default()
    };
    let published = create_and_publish_gig(rpc, &seller.access_token, gig).await;
    Offer {
        gig_id: published.id,
        seller: seller_index,
        package_price_minor: spec.package_price_minor,
        revisions: spec.revisions,
        extras: published
            .extras
            .iter()
            .map(|extra| (extra.id.clone(), minor(&extra.price)))
            .collect(),
        requirements: published.requirements,
    }
}

/// Waits until orders knows the gig: its seller's own order of it is refused as such
/// (FAILED_PRECONDITION) rather than as an unknown gig (NOT_FOUND).
async fn wait_until_orderable(rpc: &Rpc, seller: &Party, gig_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let refused = rpc
            .call::<_, orders::Order>(
                PLACE_ORDER,
                orders::PlaceOrderRequest {
                    gig_id: gig_id.to_owned(),
                    tier: gigs::PackageTier::Basic as i32,
                    extras: Vec::new(),
                    request_id: format!("own-{}", uuid::Uuid::now_v7()),
                },
                Some(&seller.access_token),
            )
            .await
            .expect_err("nobody orders their own gig");
        if refused.code() == Code::FailedPrecondition {
            return;
        }
        assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
        assert!(
            Instant::now() < deadline,
            "orders never learnt gig {gig_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buyer,
    Seller,
}

/// How far a paid order gets before it is cancelled by mutual agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelPoint {
    /// Paid, the requirements not answered yet (or, for a gig without questions, started).
    Paid,
    /// Started.
    Started,
    /// Delivered once.
    Delivered,
}

/// How the admin decides a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Release,
    Refund,
    /// This percentage of the subtotal back to the buyer.
    Split {
        percent: i64,
    },
}

/// The lifecycle an order is driven through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Paid, requirements answered, delivered, `revisions` revisions asked and delivered
    /// again, accepted.
    Completed { revisions: i32 },
    /// Paid, then cancelled: `asked_by` asks, the other side accepts.
    MutualCancellation { asked_by: Side, at: CancelPoint },
    /// Paid and started (maybe delivered), disputed by `opened_by`, decided by the admin.
    Disputed {
        opened_by: Side,
        delivered: bool,
        decision: Decision,
    },
    /// Cancelled by the buyer before paying; `opened_payment`: after asking for the payment.
    CancelledUnpaid { opened_payment: bool },
    /// Placed and never paid; `opened_payment`: after asking for the payment.
    Unpaid { opened_payment: bool },
}

impl Lifecycle {
    /// Whether the buyer pays.
    pub fn is_paid(self) -> bool {
        !matches!(
            self,
            Lifecycle::CancelledUnpaid { .. } | Lifecycle::Unpaid { .. }
        )
    }

    /// A short name, for the summary.
    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::Completed { .. } => "completed",
            Lifecycle::MutualCancellation { .. } => "mutual cancellation",
            Lifecycle::Disputed {
                decision: Decision::Release,
                ..
            } => "dispute released",
            Lifecycle::Disputed {
                decision: Decision::Refund,
                ..
            } => "dispute refunded",
            Lifecycle::Disputed {
                decision: Decision::Split { .. },
                ..
            } => "dispute split",
            Lifecycle::CancelledUnpaid { .. } => "cancelled before payment",
            Lifecycle::Unpaid { .. } => "left unpaid",
        }
    }
}

/// One planned order: who buys which gig with which extras, and its lifecycle.
#[derive(Debug, Clone)]
pub struct OrderPlan {
    pub index: usize,
    pub buyer: usize,
    pub offer: usize,
    /// Index into the offer's extras, and how many.
    pub extras: Vec<(usize, i32)>,
    pub lifecycle: Lifecycle,
}

/// Plans `count` orders of `market` from `seed`.
pub fn plan_orders(seed: u64, count: usize, market: &Marketplace) -> Vec<OrderPlan> {
    let mut rng = SeededRng::new(seed);
    (0..count)
        .map(|index| {
            let buyer = rng.below(market.buyers.len() as u64) as usize;
            let offer_index = rng.below(market.offers.len() as u64) as usize;
            let offer = &market.offers[offer_index];
            let mut extras = Vec::new();
            for extra in 0..offer.extras.len() {
                if rng.chance(50) {
                    extras.push((extra, 1 + rng.below(3) as i32));
                }
            }
            let side = |rng: &mut SeededRng| {
                if rng.chance(50) {
                    Side::Buyer
                } else {
                    Side::Seller
                }
            };
            let roll = rng.below(100);
            let lifecycle = if roll < 35 {
                Lifecycle::Completed {
                    revisions: rng.below(offer.revisions as u64 + 1) as i32,
                }
            } else if roll < 50 {
                Lifecycle::MutualCancellation {
                    asked_by: side(&mut rng),
                    at: *rng.pick(&[
                        CancelPoint::Paid,
                        CancelPoint::Started,
                        CancelPoint::Delivered,
                    ]),
                }
            } else if roll < 70 {
                let decision = match rng.below(3) {
                    0 => Decision::Release,
                    1 => Decision::Refund,
                    _ => Decision::Split {
                        percent: 1 + rng.below(99) as i64,
                    },
                };
                Lifecycle::Disputed {
                    opened_by: side(&mut rng),
                    delivered: rng.chance(50),
                    decision,
                }
            } else if roll < 85 {
                Lifecycle::CancelledUnpaid {
                    opened_payment: rng.chance(50),
                }
            } else {
                Lifecycle::Unpaid {
                    opened_payment: rng.chance(50),
                }
            };
            OrderPlan {
                index,
                buyer,
                offer: offer_index,
                extras,
                lifecycle,
            }
        })
        .collect()
}

/// What a driven order must be once the system is quiet.
#[derive(Debug, Clone)]
pub struct DrivenOrder {
    pub plan: OrderPlan,
    pub order_id: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub seller_earnings_minor: i64,
    /// The states it may be in (more than one for an unpaid order, which may expire).
    pub expected_states: Vec<OrderState>,
    /// What goes back to the buyer.
    pub expected_refund_minor: i64,
    /// What the seller earns, where it is known without the split's arithmetic.
    pub expected_seller_paid_minor: Option<i64>,
    /// Its timeline, kind by kind (an unpaid order may also have expired).
    pub expected_timeline: Vec<TimelineKind>,
    /// Whether payments created a payment for it.
    pub opened_payment: bool,
    /// Calls retried after an outage or a lost answer.
    pub retries: u32,
}

impl DrivenOrder {
    pub fn is_paid(&self) -> bool {
        self.plan.lifecycle.is_paid()
    }
}

/// Drives the planned orders, `concurrency` at a time; `finished` counts those done.
pub async fn drive_all(
    rpc: Rpc,
    market: Arc<Marketplace>,
    plans: Vec<OrderPlan>,
    concurrency: usize,
    seed: u64,
    finished: Arc<AtomicUsize>,
) -> Vec<Result<DrivenOrder, String>> {
    let plans = Arc::new(plans);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let rpc = rpc.clone();
        let market = Arc::clone(&market);
        let plans = Arc::clone(&plans);
        let next = Arc::clone(&next);
        let finished = Arc::clone(&finished);
        workers.spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(plan) = plans.get(index) else {
                    return results;
                };
                let driver = OrderDriver::new(&rpc, &market, plan.clone(), seed);
                results.push((index, driver.drive().await));
                finished.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let mut results: Vec<(usize, Result<DrivenOrder, String>)> =
        workers.join_all().await.into_iter().flatten().collect();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Drives one order through its lifecycle.
struct OrderDriver<'a> {
    rpc: &'a Rpc,
    market: &'a Marketplace,
    plan: OrderPlan,
    offer: &'a Offer,
    buyer: &'a Party,
    seller: &'a Party,
    order_id: String,
    timeline: Vec<TimelineKind>,
    retries: u32,
    /// Places the order: same request id on every attempt.
    request_id: String,
}

impl<'a> OrderDriver<'a> {
    fn new(rpc: &'a Rpc, market: &'a Marketplace, plan: OrderPlan, seed: u64) -> Self {
        let offer = &market.offers[plan.offer];
        Self {
            rpc,
            market,
            offer,
            buyer: &market.buyers[plan.buyer],
            seller: &market.sellers[offer.seller],
            order_id: String::new(),
            timeline: Vec::new(),
            retries: 0,
            request_id: format!("crash-{seed:x}-{}", plan.index),
            plan,
        }
    }

    fn token_of(&self, side: Side) -> &'a str {
        match side {
            Side::Buyer => &self.buyer.access_token,
            Side::Seller => &self.seller.access_token,
        }
    }

    fn fail(&self, step: &str, problem: impl std::fmt::Display) -> String {
        format!(
            "order #{} {} ({}): {step}: {problem}",
            self.plan.index,
            self.order_id,
            self.plan.lifecycle.name()
        )
    }

    async fn drive(mut self) -> Result<DrivenOrder, String> {
        let placed = self.place().await?;
        let price = placed.price.clone().unwrap_or_default();
        let subtotal = minor(&price.subtotal);
        let total = minor(&price.total);
        let seller_earnings = minor(&price.seller_earnings);
        let mut opened_payment = false;
        let lifecycle = self.plan.lifecycle;
        let (expected_states, refund, seller_paid) = match lifecycle {
            Lifecycle::Completed { revisions } => {
                self.pay().await?;
                self.start().await?;
                self.deliver(1).await?;
                for revision in 1..=revisions {
                    self.request_revision(revision).await?;
                    self.deliver(revision + 1).await?;
                }
                self.accept().await?;
                (vec![OrderState::Completed], 0, Some(seller_earnings))
            }
            Lifecycle::MutualCancellation { asked_by, at } => {
                self.pay().await?;
                if at != CancelPoint::Paid {
                    self.start().await?;
                }
                if at == CancelPoint::Delivered {
                    self.deliver(1).await?;
                }
                self.mutual_cancellation(asked_by).await?;
                (vec![OrderState::Cancelled], total, Some(0))
            }
            Lifecycle::Disputed {
                opened_by,
                delivered,
                decision,
            } => {
                self.pay().await?;
                self.start().await?;
                if delivered {
                    self.deliver(1).await?;
                }
                self.open_dispute(opened_by).await?;
                let split_refund = match decision {
                    Decision::Split { percent } => {
                        (subtotal * percent / 100).clamp(1, subtotal - 1)
                    }
                    _ => 0,
                };
                self.resolve_dispute(decision, split_refund).await?;
                match decision {
                    Decision::Release => (vec![OrderState::Completed], 0, Some(seller_earnings)),
                    Decision::Refund => (vec![OrderState::Cancelled], total, Some(0)),
                    Decision::Split { .. } => (vec![OrderState::Completed], split_refund, None),
                }
            }
            Lifecycle::CancelledUnpaid {
                opened_payment: open,
            } => {
                if open {
                    self.open_payment().await?;
                    opened_payment = true;
                }
                self.cancel_unpaid().await?;
                (vec![OrderState::Cancelled], 0, None)
            }
            Lifecycle::Unpaid {
                opened_payment: open,
            } => {
                if open {
                    self.open_payment().await?;
                    opened_payment = true;
                }
                (
                    vec![OrderState::AwaitingPayment, OrderState::Expired],
                    0,
                    None,
                )
            }
        };
        Ok(DrivenOrder {
            order_id: self.order_id.clone(),
            subtotal_minor: subtotal,
            total_minor: total,
            seller_earnings_minor: seller_earnings,
            expected_states,
            expected_refund_minor: refund,
            expected_seller_paid_minor: seller_paid,
            expected_timeline: self.timeline.clone(),
            opened_payment: opened_payment || lifecycle.is_paid(),
            retries: self.retries,
            plan: self.plan,
        })
    }

    /// PlaceOrder, retried with the same request id until it answers; checks the price.
    async fn place(&mut self) -> Result<orders::Order, String> {
        let request = orders::PlaceOrderRequest {
            gig_id: self.offer.gig_id.clone(),
            tier: gigs::PackageTier::Basic as i32,
            extras: self
                .plan
                .extras
                .iter()
                .map(|(extra, quantity)| orders::ExtraChoice {
                    extra_id: self.offer.extras[*extra].0.clone(),
                    quantity: *quantity,
                })
                .collect(),
            request_id: self.request_id.clone(),
        };
        let mut patience = Patience::new();
        let order: orders::Order = loop {
            match call(
                self.rpc,
                PLACE_ORDER,
                request.clone(),
                Some(&self.buyer.access_token),
            )
            .await
            {
                Ok(order) => break order,
                Err(status) if is_transient(&status) && !patience.exhausted() => {
                    self.retries += 1;
                    patience.wait().await;
                }
                Err(status) => return Err(self.fail("place the order", format!("{status:?}"))),
            }
        };
        self.order_id = order.id.clone();
        self.timeline.push(TimelineKind::Placed);
        if order.state() != OrderState::AwaitingPayment {
            return Err(self.fail("place the order", format!("placed {:?}", order.state())));
        }
        let price = order.price.clone().unwrap_or_default();
        let expected_subtotal = self.offer.package_price_minor
            + self
                .plan
                .extras
                .iter()
                .map(|(extra, quantity)| self.offer.extras[*extra].1 * i64::from(*quantity))
                .sum::<i64>();
        if minor(&price.subtotal) != expected_subtotal
            || minor(&price.total) != minor(&price.subtotal) + minor(&price.service_fee)
            || minor(&price.seller_earnings)
                != minor(&price.subtotal) - minor(&price.seller_commission)
        {
            return Err(self.fail(
                "place the order",
                format!("price {price:?}, expected a subtotal of {expected_subtotal}"),
            ));
        }
        Ok(order)
    }

    /// The order as its buyer reads it now, through outages.
    async fn read(&mut self, patience: &mut Patience) -> Result<orders::Order, String> {
        loop {
            match call(
                self.rpc,
                GET_ORDER,
                orders::GetOrderRequest {
                    order_id: self.order_id.clone(),
                },
                Some(&self.buyer.access_token),
            )
            .await
            {
                Ok(order) => return Ok(order),
                Err(status) if is_transient(&status) && !patience.exhausted() => {
                    self.retries += 1;
                    patience.wait().await;
                }
                Err(status) => return Err(self.fail("read the order", format!("{status:?}"))),
            }
        }
    }

    /// GetOrderPayment until payments knows the order, through outages.
    async fn order_payment(
        &mut self,
        patience: &mut Patience,
    ) -> Result<payments::OrderPayment, String> {
        loop {
            match call(
                self.rpc,
                GET_ORDER_PAYMENT,
                payments::GetOrderPaymentRequest {
                    order_id: self.order_id.clone(),
                },
                Some(&self.buyer.access_token),
            )
            .await
            {
                Ok(payment) => return Ok(payment),
                // NOT_FOUND: payments has not learnt the order from orders' event yet.
                Err(status)
                    if (is_transient(&status) || status.code() == Code::NotFound)
                        && !patience.exhausted() =>
                {
                    self.retries += u32::from(status.code() != Code::NotFound);
                    patience.wait().await;
                }
                Err(status) => {
                    return Err(self.fail("read the order's payment", format!("{status:?}")));
                }
            }
        }
    }

    /// Asks for the order's payment, which payments creates at the provider.
    async fn open_payment(&mut self) -> Result<(), String> {
        let mut patience = Patience::new();
        let payment = self.order_payment(&mut patience).await?;
        if payment.status() != PaymentStatus::RequiresPaymentMethod || minor(&payment.amount) <= 0 {
            return Err(self.fail("open the payment", format!("{payment:?}")));
        }
        Ok(())
    }

    /// Pays with the test card and waits until orders has the order paid. A confirmation
    /// whose answer was lost is not confirmed again once the payment reads as succeeded
    /// (and a second confirmation is refused by the sandbox as final anyway).
    async fn pay(&mut self) -> Result<(), String> {
        let mut patience = Patience::new();
        loop {
            if patience.exhausted() {
                return Err(self.fail("pay", "the order never became paid"));
            }
            let order = self.read(&mut patience).await?;
            match order.state() {
                OrderState::AwaitingPayment => {}
                OrderState::RequirementsPending | OrderState::InProgress => {
                    self.timeline.push(TimelineKind::Paid);
                    if self.offer.requirements.is_empty() {
                        self.timeline.push(TimelineKind::Started);
                    }
                    return Ok(());
                }
                other => return Err(self.fail("pay", format!("the order is {other:?}"))),
            }
            // Each read of the payment also has payments look at the provider, so a
            // payment whose webhook was lost in a crash is applied anyway.
            let payment = self.order_payment(&mut patience).await?;
            match payment.status() {
                PaymentStatus::Succeeded => {}
                PaymentStatus::RequiresPaymentMethod => {
                    let confirmed = call::<_, payments::ConfirmSandboxPaymentResponse>(
                        self.rpc,
                        CONFIRM_SANDBOX_PAYMENT,
                        payments::ConfirmSandboxPaymentRequest {
                            payment_id: payment.payment_id.clone(),
                            client_secret: payment.client_secret.clone(),
                            card_number: TEST_CARD.to_owned(),
                            authenticate: false,
                        },
                        None,
                    )
                    .await;
                    match confirmed {
                        Ok(answer) if answer.status() == PaymentStatus::Succeeded => {}
                        Ok(answer) => {
                            return Err(self.fail("pay", format!("the card answered {answer:?}")));
                        }
                        // Paid by an attempt whose answer was lost.
                        Err(status)
                            if status.code() == Code::FailedPrecondition
                                && status.message().contains("succeeded") => {}
                        Err(status) if is_transient(&status) => self.retries += 1,
                        Err(status) => return Err(self.fail("pay", format!("{status:?}"))),
                    }
                }
                other => return Err(self.fail("pay", format!("the payment is {other:?}"))),
            }
            patience.wait().await;
        }
    }

    /// Drives the order until `done` holds for it: reads it; while `done` does not hold,
    /// makes the transition `path` with `request` as `token` when `ready` holds for it,
    /// else waits (an event has not arrived yet). After an outage, a lost answer or a
    /// refusal of the state, the order is read again before anything is retried, so a
    /// transition that happened before a crash is not made twice.
    async fn transition<Request>(
        &mut self,
        step: &str,
        token: &str,
        path: &'static str,
        request: Request,
        ready: impl Fn(&orders::Order) -> bool,
        done: impl Fn(&orders::Order) -> bool,
    ) -> Result<orders::Order, String>
    where
        Request: prost::Message + Clone + Send + Sync + 'static,
    {
        let mut patience = Patience::new();
        let mut last_refusal = None;
        loop {
            let order = self.read(&mut patience).await?;
            if done(&order) {
                return Ok(order);
            }
            if matches!(
                order.state(),
                OrderState::Completed | OrderState::Cancelled | OrderState::Expired
            ) {
                return Err(self.fail(step, format!("the order closed as {:?}", order.state())));
            }
            if patience.exhausted() {
                return Err(self.fail(
                    step,
                    format!(
                        "not done within {STEP_DEADLINE:?}: the order is {:?}, last refusal \
                         {last_refusal:?}",
                        order.state()
                    ),
                ));
            }
            if ready(&order) {
                match call::<_, orders::Order>(self.rpc, path, request.clone(), Some(token)).await {
                    // The answer carries no timeline: what it did is read back.
                    Ok(answer) => {
                        let order = self.read(&mut patience).await?;
                        if done(&order) {
                            return Ok(order);
                        }
                        return Err(self.fail(
                            step,
                            format!(
                                "answered {:?} v{}, then read as {:?} v{}",
                                answer.state(),
                                answer.version,
                                order.state(),
                                order.version
                            ),
                        ));
                    }
                    Err(status) if is_transient(&status) => self.retries += 1,
                    // The state moved on (maybe by an attempt whose answer was lost):
                    // the next read tells.
                    Err(status) if status.code() == Code::FailedPrecondition => {
                        last_refusal = Some(status);
                    }
                    Err(status) => return Err(self.fail(step, format!("{status:?}"))),
                }
            }
            patience.wait().await;
        }
    }

    /// Answers the requirements of a gig that asks some; the work starts.
    async fn start(&mut self) -> Result<(), String> {
        if self.offer.requirements.is_empty() {
            return Ok(());
        }
        let answers = self
            .offer
            .requirements
            .iter()
            .enumerate()
            .filter(|(index, requirement)| requirement.required || index % 2 == 0)
            .map(|(index, requirement)| {
                let mut answer = orders::RequirementAnswer {
                    question_index: index as i32,
                    ..Default::default()
                };
                if requirement.kind() == gigs::RequirementKind::MultipleChoice {
                    answer.choice =
                        requirement.options[self.plan.index % requirement.options.len()].clone();
                } else {
                    answer.text = format!("Answer {} of order {}", index, self.plan.index);
                }
                answer
            })
            .collect();
        let request = orders::SubmitRequirementsRequest {
            order_id: self.order_id.clone(),
            answers,
        };
        let token = self.token_of(Side::Buyer);
        self.transition(
            "submit the requirements",
            token,
            SUBMIT_REQUIREMENTS,
            request,
            |order| order.state() == OrderState::RequirementsPending,
            |order| order.start_time.is_some(),
        )
        .await?;
        self.timeline
            .extend([TimelineKind::RequirementsSubmitted, TimelineKind::Started]);
        Ok(())
    }

    /// The seller's `nth` delivery.
    async fn deliver(&mut self, nth: i32) -> Result<(), String> {
        let request = orders::DeliverOrderRequest {
            order_id: self.order_id.clone(),
            message: format!("Delivery {nth} of order {}.", self.plan.index),
            attachment_urls: vec![format!(
                "https://cdn.example.com/{}-{nth}.png",
                self.plan.index
            )],
        };
        let token = self.token_of(Side::Seller);
        let deliveries = move |order: &orders::Order| {
            order
                .timeline
                .iter()
                .filter(|entry| entry.kind() == TimelineKind::Delivered)
                .count() as i32
        };
        self.transition(
            "deliver",
            token,
            DELIVER_ORDER,
            request,
            |order| order.state() == OrderState::InProgress,
            |order| deliveries(order) >= nth,
        )
        .await?;
        self.timeline.push(TimelineKind::Delivered);
        Ok(())
    }

    /// The buyer's `nth` revision request.
    async fn request_revision(&mut self, nth: i32) -> Result<(), String> {
        let request = orders::RequestRevisionRequest {
            order_id: self.order_id.clone(),
            message: format!("Revision {nth}, please."),
        };
        let token = self.token_of(Side::Buyer);
        self.transition(
            "request a revision",
            token,
            REQUEST_REVISION,
            request,
            |order| order.state() == OrderState::Delivered,
            |order| order.revisions_used >= nth,
        )
        .await?;
        self.timeline.push(TimelineKind::RevisionRequested);
        Ok(())
    }

    async fn accept(&mut self) -> Result<(), String> {
        let request = orders::AcceptDeliveryRequest {
            order_id: self.order_id.clone(),
        };
        let token = self.token_of(Side::Buyer);
        self.transition(
            "accept the delivery",
            token,
            ACCEPT_DELIVERY,
            request,
            |order| order.state() == OrderState::Delivered,
            |order| order.state() == OrderState::Completed,
        )
        .await?;
        self.timeline
            .extend([TimelineKind::Accepted, TimelineKind::Completed]);
        Ok(())
    }

    /// `asked_by` asks for a mutual cancellation and the other side accepts.
    async fn mutual_cancellation(&mut self, asked_by: Side) -> Result<(), String> {
        let asker = self.token_of(asked_by);
        let answerer = self.token_of(match asked_by {
            Side::Buyer => Side::Seller,
            Side::Seller => Side::Buyer,
        });
        let request = orders::RequestCancellationRequest {
            order_id: self.order_id.clone(),
            reason: "Plans changed.".to_owned(),
        };
        self.transition(
            "ask for a cancellation",
            asker,
            REQUEST_CANCELLATION,
            request,
            |order| order.pending_cancellation.is_none(),
            |order| order.pending_cancellation.is_some(),
        )
        .await?;
        let request = orders::AnswerCancellationRequest {
            order_id: self.order_id.clone(),
            accept: true,
        };
        self.transition(
            "accept the cancellation",
            answerer,
            ANSWER_CANCELLATION,
            request,
            |order| order.pending_cancellation.is_some(),
            |order| order.state() == OrderState::Cancelled,
        )
        .await?;
        self.timeline
            .extend([TimelineKind::CancellationRequested, TimelineKind::Cancelled]);
        Ok(())
    }

    async fn open_dispute(&mut self, opened_by: Side) -> Result<(), String> {
        let request = orders::OpenDisputeRequest {
            order_id: self.order_id.clone(),
            reason: "We do not agree on what was ordered.".to_owned(),
        };
        let token = self.token_of(opened_by);
        self.transition(
            "open a dispute",
            token,
            OPEN_DISPUTE,
            request,
            |order| {
                matches!(
                    order.state(),
                    OrderState::InProgress | OrderState::Delivered
                )
            },
            |order| order.state() == OrderState::Disputed,
        )
        .await?;
        self.timeline.push(TimelineKind::DisputeOpened);
        Ok(())
    }

    async fn resolve_dispute(
        &mut self,
        decision: Decision,
        split_refund_minor: i64,
    ) -> Result<(), String> {
        let (resolution, refund) = match decision {
            Decision::Release => (orders::DisputeResolution::Release, None),
            Decision::Refund => (orders::DisputeResolution::Refund, None),
            Decision::Split { .. } => (orders::DisputeResolution::Split, usd(split_refund_minor)),
        };
        let request = orders::ResolveDisputeRequest {
            order_id: self.order_id.clone(),
            resolution: resolution as i32,
            refund,
            note: "Decided on the evidence of both sides.".to_owned(),
        };
        let market: &'a Marketplace = self.market;
        let token = market.admin.access_token.as_str();
        self.transition(
            "resolve the dispute",
            token,
            RESOLVE_DISPUTE,
            request,
            |order| order.state() == OrderState::Disputed,
            |order| order.state() != OrderState::Disputed,
        )
        .await?;
        self.timeline.push(TimelineKind::DisputeResolved);
        Ok(())
    }

    /// The buyer cancels before paying.
    async fn cancel_unpaid(&mut self) -> Result<(), String> {
        let request = orders::CancelOrderRequest {
            order_id: self.order_id.clone(),
            reason: "Ordered by mistake.".to_owned(),
        };
        let token = self.token_of(Side::Buyer);
        self.transition(
            "cancel before payment",
            token,
            CANCEL_ORDER,
            request,
            |order| order.state() == OrderState::AwaitingPayment,
            |order| order.state() == OrderState::Cancelled,
        )
        .await?;
        self.timeline.push(TimelineKind::Cancelled);
        Ok(())
    }
}

/// What the admin reads of the payments and refunds of `order_id`, through outages.
pub async fn payment_records(
    rpc: &Rpc,
    admin: &Party,
    order_id: &str,
) -> Result<Vec<payments::PaymentRecord>, Status> {
    let mut patience = Patience::new();
    loop {
        match call::<_, payments::ListPaymentsResponse>(
            rpc,
            LIST_PAYMENTS,
            payments::ListPaymentsRequest {
                order_id: order_id.to_owned(),
                page_size: 100,
                ..Default::default()
            },
            Some(&admin.access_token),
        )
        .await
        {
            Ok(response) => return Ok(response.records),
            Err(status) if is_transient(&status) && !patience.exhausted() => {
                patience.wait().await;
            }
            Err(status) => return Err(status),
        }
    }
}

/// The order as its buyer reads it, through outages.
pub async fn read_order(rpc: &Rpc, buyer: &Party, order_id: &str) -> Result<orders::Order, Status> {
    let mut patience = Patience::new();
    loop {
        match call(
            rpc,
            GET_ORDER,
            orders::GetOrderRequest {
                order_id: order_id.to_owned(),
            },
            Some(&buyer.access_token),
        )
        .await
        {
            Ok(order) => return Ok(order),
            Err(status) if is_transient(&status) && !patience.exhausted() => {
                patience.wait().await;
            }
            Err(status) => return Err(status),
        }
    }
}

/// The ledger's summary, as the admin reads it.
pub async fn ledger_summary(rpc: &Rpc, admin: &Party) -> Result<payments::LedgerSummary, Status> {
    call(
        rpc,
        GET_LEDGER_SUMMARY,
        payments::GetLedgerSummaryRequest {},
        Some(&admin.access_token),
    )
    .await
}

/// One message of the maildir, its headers unfolded.
#[derive(Debug, Clone)]
pub struct MailMessage {
    pub file: String,
    pub to: String,
    pub subject: String,
    /// The Message-ID: a mail sent again for the same event carries the same one.
    pub message_id: String,
}

/// Every delivered message under the maildir `directory` (`new` and `cur`; `tmp` holds
/// deliveries in progress), with its `To` and `Subject` headers.
pub fn read_maildir(directory: &Path) -> Vec<MailMessage> {
    let mut messages = Vec::new();
    for folder in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(directory.join(folder)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(raw) = std::fs::read_to_string(&path) else {
                continue;
            };
            let headers = unfolded_headers(&raw);
            let header = |name: &str| {
                headers
                    .get(name)
                    .map(|values| values.join(", "))
                    .unwrap_or_default()
            };
            messages.push(MailMessage {
                file: path.display().to_string(),
                to: header("to"),
                subject: header("subject"),
                message_id: header("message-id"),
            });
        }
    }
    messages
}

/// The header block of `raw` (up to the first empty line), continuation lines joined to
/// the header they continue, by lowercase name.
fn unfolded_headers(raw: &str) -> BTreeMap<String, Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for line in raw.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            lines.push(line.to_owned());
        }
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers
                .entry(name.trim().to_ascii_lowercase())
                .or_default()
                .push(value.trim().to_owned());
        }
    }
    headers
}
