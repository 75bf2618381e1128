//! The mails of orders and their money end to end, on SQLite and PostgreSQL: auth's
//! `UserRegistered` and users' `ProfileChanged` introduce the buyer and the seller, orders'
//! `OrderChanged` and payments' events are published to an embedded bus, both consumers of
//! the service are stepped with `poll_once`, and every mail is read back from its `.eml`
//! file: who it went to, its subject and what it says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use gigmesh_config::Secret;
use gigmesh_events::{Consumer, Envelope, PollOutcome};
use gigmesh_notifications::{App, Config, MailerKind};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::{EmailVerified, UserRegistered};
use gigmesh_proto::orders::{
    Actor, DisputeResolution, Order, OrderChanged, OrderState, PendingRequest, Price, Settlement,
    TimelineEntry, TimelineKind,
};
use gigmesh_proto::payments::{
    FundsCleared, InvoiceIssued, PaymentFailed, PaymentSucceeded, RefundIssued, WithdrawalFailed,
    WithdrawalSent,
};
use gigmesh_proto::types::Money;
use gigmesh_proto::users::{ProfileChanged, PublicProfile};
use gigmesh_testing::{Backend, TestDeps, TestMailTokenKeys};
use gigmesh_types::timestamp_from_millis;
use mail_parser::MessageParser;
use sqlx::Row as _;
use tempfile::TempDir;
use uuid::Uuid;

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(200);
const WEB_APP_URL: &str = "https://app.gigmesh.test";
const FROM: &str = "gigmesh <no-reply@gigmesh.test>";
const BUYER_EMAIL: &str = "ada@example.com";
const SELLER_EMAIL: &str = "grace@example.com";
/// 2026-12-10 12:00 UTC.
const DUE_MILLIS: i64 = 1_796_904_000_000;

/// One mail as it arrived.
#[derive(Debug)]
struct Received {
    to: String,
    to_name: Option<String>,
    subject: String,
    text: String,
    html: String,
}

impl Received {
    /// Checks that both alternatives say `fragment` (the HTML one escaped, as it would be).
    fn says(&self, fragment: &str) {
        assert!(
            self.text.contains(fragment),
            "{fragment:?} in {}",
            self.text
        );
        let escaped = gigmesh_types::escape_html(fragment);
        assert!(self.html.contains(&escaped), "{escaped:?} in {}", self.html);
    }

    fn links_to_order(&self, order_id: &str) {
        let link = format!("{WEB_APP_URL}/orders/{order_id}");
        assert!(self.text.contains(&link), "{link} in {}", self.text);
        assert!(
            self.html.contains(&format!("href=\"{link}\"")),
            "{link} in {}",
            self.html
        );
    }
}

/// The notification service with both its consumers and the mail directory.
struct Service {
    auth_events: Consumer,
    order_events: Consumer,
    deps: TestDeps,
    mail_directory: PathBuf,
    seen_files: BTreeSet<PathBuf>,
    buyer_id: String,
    seller_id: String,
    _directory: TempDir,
    _keys: TestMailTokenKeys,
}

impl Service {
    async fn start(backend: Backend) -> Service {
        Self::start_with(TestDeps::new(backend).await, |_| {}).await
    }

    async fn start_with(deps: TestDeps, configure: impl FnOnce(&mut Config)) -> Service {
        let directory = tempfile::tempdir().expect("test directory");
        let mail_directory = directory.path().join("mail");
        let keys = TestMailTokenKeys::generate("test_key");
        let mut config = Config {
            mailer: MailerKind::File,
            file_dir: mail_directory.clone(),
            from: FROM.to_owned(),
            web_app_url: WEB_APP_URL.to_owned(),
            mail_token_keys: BTreeMap::from([(
                keys.key_id.clone(),
                Secret::new(keys.secret_key_base64()),
            )]),
            ..Config::default()
        };
        configure(&mut config);
        let app = <App as gigmesh_runtime::Service>::build(deps.service_deps(), config)
            .await
            .expect("build the notification service");
        Service {
            auth_events: app.auth_events_consumer().await.expect("auth consumer"),
            order_events: app.order_events_consumer().await.expect("order consumer"),
            deps,
            mail_directory,
            seen_files: BTreeSet::new(),
            buyer_id: Uuid::now_v7().to_string(),
            seller_id: Uuid::now_v7().to_string(),
            _directory: directory,
            _keys: keys,
        }
    }

    /// The service knowing the buyer (Ada) and the seller (Grace) by address and name.
    async fn with_buyer_and_seller(backend: Backend) -> Service {
        let mut service = Self::start(backend).await;
        service.introduce_buyer_and_seller().await;
        service
    }

    async fn introduce_buyer_and_seller(&mut self) {
        let (buyer_id, seller_id) = (self.buyer_id.clone(), self.seller_id.clone());
        self.register(&buyer_id, BUYER_EMAIL, "ada").await;
        self.register(&seller_id, SELLER_EMAIL, "grace").await;
        self.publish(&buyer_id, &profile(&buyer_id, "ada", "Ada Lovelace"))
            .await;
        self.publish(&seller_id, &profile(&seller_id, "grace", "Grace Hopper"))
            .await;
        self.consume_auth().await;
        self.consume_orders().await;
    }

    async fn register(&self, user_id: &str, email: &str, username: &str) {
        self.publish(
            user_id,
            &UserRegistered {
                user_id: user_id.to_owned(),
                email: email.to_owned(),
                username: username.to_owned(),
                create_time: None,
            },
        )
        .await;
    }

    async fn publish<E: EventMessage>(&self, key: &str, event: &E) -> Envelope {
        gigmesh_testing::publish_event(&self.deps.bus(), key, event).await
    }

    async fn consume_auth(&mut self) -> Vec<PollOutcome> {
        self.auth_events.drain(STEP_WAIT).await.expect("poll auth")
    }

    async fn consume_orders(&mut self) -> Vec<PollOutcome> {
        self.order_events
            .drain(STEP_WAIT)
            .await
            .expect("poll orders")
    }

    /// Publishes `event` about an order, steps the order consumer and returns the mails it
    /// sent, checking that it handled the event.
    async fn mails_of(&mut self, key: &str, event: &impl EventMessage) -> Vec<Received> {
        self.publish(key, event).await;
        let outcomes = self.consume_orders().await;
        assert!(
            matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
            "{outcomes:?}"
        );
        self.new_mails()
    }

    /// The mails written since the last call, in the order they were sent.
    fn new_mails(&mut self) -> Vec<Received> {
        let mut fresh: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(&self.mail_directory)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|entry| entry.path())
                        .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
                        .filter(|path| !self.seen_files.contains(path))
                        .map(|path| {
                            let modified = std::fs::metadata(&path)
                                .and_then(|metadata| metadata.modified())
                                .expect("file time");
                            (modified, path)
                        })
                        .collect()
                })
                .unwrap_or_default();
        fresh.sort();
        fresh
            .into_iter()
            .map(|(_, path)| {
                self.seen_files.insert(path.clone());
                received(&std::fs::read(&path).expect("read .eml"))
            })
            .collect()
    }

    /// `(event_id, kind, recipient)` of every row in `sent_mail`.
    async fn sent_mail(&self) -> Vec<(String, String, String)> {
        sqlx::query("SELECT event_id, kind, recipient FROM sent_mail ORDER BY sent_at, recipient")
            .fetch_all(self.deps.db().pool())
            .await
            .expect("read sent_mail")
            .iter()
            .map(|row| (row.get("event_id"), row.get("kind"), row.get("recipient")))
            .collect()
    }

    /// An order of the buyer from the seller, paid, due at [`DUE_MILLIS`].
    fn order(&self) -> Order {
        order_between(&self.buyer_id, &self.seller_id, "Logo design", usd)
    }
}

fn received(raw: &[u8]) -> Received {
    let message = MessageParser::default()
        .parse(raw)
        .expect("a parsable mail");
    let from = message.from().and_then(|from| from.first()).expect("From");
    assert_eq!(from.address(), Some("no-reply@gigmesh.test"));
    let to = message.to().and_then(|to| to.first()).expect("To");
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    Received {
        to: to.address().expect("To address").to_owned(),
        to_name: to.name().map(str::to_owned),
        subject: message.subject().expect("Subject").to_owned(),
        text: message
            .body_text(0)
            .expect("text part")
            .replace("\r\n", "\n"),
        html: message
            .body_html(0)
            .expect("html part")
            .replace("\r\n", "\n"),
    }
}

fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

fn jpy(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "JPY".to_owned(),
    })
}

fn profile(user_id: &str, username: &str, display_name: &str) -> ProfileChanged {
    ProfileChanged {
        profile: Some(PublicProfile {
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            ..PublicProfile::default()
        }),
        suspended: false,
    }
}

/// A paid order in progress: subtotal 50.00, service fee 2.75, total 52.75, commission
/// 10.00, earnings 40.00 (in `money`'s currency, scaled as given).
fn order_between(
    buyer_id: &str,
    seller_id: &str,
    gig_title: &str,
    money: fn(i64) -> Option<Money>,
) -> Order {
    Order {
        id: Uuid::now_v7().to_string(),
        buyer_id: buyer_id.to_owned(),
        seller_id: seller_id.to_owned(),
        gig_id: Uuid::now_v7().to_string(),
        gig_title: gig_title.to_owned(),
        package_name: "Basic".to_owned(),
        price: Some(Price {
            subtotal: money(5000),
            service_fee: money(275),
            total: money(5275),
            seller_commission: money(1000),
            seller_earnings: money(4000),
        }),
        state: OrderState::InProgress as i32,
        paid_time: Some(timestamp_from_millis(DUE_MILLIS - 3 * 86_400_000)),
        due_time: Some(timestamp_from_millis(DUE_MILLIS)),
        version: 3,
        ..Order::default()
    }
}

/// `order` changed by `kind`, done by `actor` with `message`.
fn changed(
    order: &Order,
    kind: TimelineKind,
    actor: Actor,
    message: &str,
    settlement: Option<Settlement>,
) -> OrderChanged {
    OrderChanged {
        change: kind as i32,
        order: Some(order.clone()),
        entry: Some(TimelineEntry {
            sequence: 4,
            kind: kind as i32,
            actor: actor as i32,
            message: message.to_owned(),
            ..TimelineEntry::default()
        }),
        version: order.version,
        settlement,
    }
}

fn full_refund() -> Settlement {
    Settlement {
        refund: usd(5275),
        platform_fee: usd(0),
        seller_earnings: usd(0),
    }
}

/// The single mail of `mails`, checked to go to `to` with a subject containing `subject`.
fn only_mail_to<'m>(mails: &'m [Received], to: &str, subject: &str) -> &'m Received {
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.to, to, "{mail:#?}");
    assert!(mail.subject.contains(subject), "{subject:?} in {mail:#?}");
    mail
}

/// The mail of `mails` to `to`, checked to be one of exactly two (buyer and seller).
fn mail_to<'m>(mails: &'m [Received], to: &str) -> &'m Received {
    assert_eq!(mails.len(), 2, "{mails:#?}");
    mails
        .iter()
        .find(|mail| mail.to == to)
        .unwrap_or_else(|| panic!("a mail to {to} in {mails:#?}"))
}

async fn steps_that_mail_the_seller_alone(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    let key = order.id.clone();

    let mails = service
        .mails_of(
            &key,
            &changed(&order, TimelineKind::Paid, Actor::System, "", None),
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "New order: Logo design");
    assert_eq!(mail.to_name.as_deref(), Some("Grace Hopper"));
    mail.says("Hi Grace Hopper,");
    mail.says("\"Logo design\" (Basic)");
    mail.says("USD 52.75");
    mail.says("You earn USD 40.00");
    mail.links_to_order(&order.id);

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::RequirementsSubmitted,
                Actor::Buyer,
                "",
                None,
            ),
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "Requirements submitted: Logo design");
    mail.says("Delivery is due on 2026-12-10 12:00 UTC.");
    mail.links_to_order(&order.id);

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::RevisionRequested,
                Actor::Buyer,
                "Please make the logo bigger.",
                None,
            ),
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "Revision requested: Logo design");
    mail.says("The buyer wrote");
    mail.says("Please make the logo bigger.");

    let mut accepted = changed(
        &order,
        TimelineKind::ExtensionAccepted,
        Actor::Buyer,
        "",
        None,
    );
    if let Some(entry) = accepted.entry.as_mut() {
        entry.days = 3;
    }
    let mails = service.mails_of(&key, &accepted).await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "Extension accepted: Logo design");
    mail.says("Your request for 3 days more");
    mail.says("accepted by the buyer");

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::ExtensionDeclined,
                Actor::Buyer,
                "",
                None,
            ),
        )
        .await;
    only_mail_to(&mails, SELLER_EMAIL, "Extension declined: Logo design")
        .says("The buyer declined your request for more time");
}

async fn steps_that_mail_the_buyer_alone(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let mut order = service.order();
    let key = order.id.clone();

    order.auto_complete_time = Some(timestamp_from_millis(DUE_MILLIS + 3 * 86_400_000));
    let mut delivered = changed(
        &order,
        TimelineKind::Delivered,
        Actor::Seller,
        "Here is your logo.\nThree variants attached.",
        None,
    );
    if let Some(entry) = delivered.entry.as_mut() {
        entry.attachment_urls = vec![
            "https://files.gigmesh.test/a.png".to_owned(),
            "https://files.gigmesh.test/b.png".to_owned(),
        ];
    }
    let mails = service.mails_of(&key, &delivered).await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "Your order was delivered: Logo design");
    assert_eq!(mail.to_name.as_deref(), Some("Ada Lovelace"));
    mail.says("Hi Ada Lovelace,");
    mail.says("with 2 files");
    mail.says("completes by itself on 2026-12-13 12:00 UTC");
    assert!(
        mail.text
            .contains("> Here is your logo.\n> Three variants attached.")
    );
    mail.links_to_order(&order.id);

    order.pending_extension = Some(PendingRequest {
        requested_by: Actor::Seller as i32,
        reason: "The client asked for more.".to_owned(),
        days: 2,
        request_time: None,
        answer_deadline: Some(timestamp_from_millis(DUE_MILLIS - 86_400_000)),
    });
    let mut extension = changed(
        &order,
        TimelineKind::ExtensionRequested,
        Actor::Seller,
        "The font licence takes a while.",
        None,
    );
    if let Some(entry) = extension.entry.as_mut() {
        entry.days = 2;
    }
    let mails = service.mails_of(&key, &extension).await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "The seller asks for more time");
    mail.says("asks for 2 days more");
    mail.says("accepted on 2026-12-09 12:00 UTC");
    mail.says("The font licence takes a while.");

    let mut unpaid = order.clone();
    unpaid.paid_time = None;
    let mails = service
        .mails_of(
            &key,
            &changed(&unpaid, TimelineKind::Expired, Actor::System, "", None),
        )
        .await;
    only_mail_to(&mails, BUYER_EMAIL, "Order expired: Logo design").says("not paid in time");

    // A cancellation before payment is news to the buyer only: the seller never heard of
    // the order.
    let mails = service
        .mails_of(
            &key,
            &changed(
                &unpaid,
                TimelineKind::Cancelled,
                Actor::Buyer,
                "Changed my mind",
                None,
            ),
        )
        .await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "Order cancelled: Logo design");
    mail.says("Nothing was charged for it.");
    assert!(!mail.subject.contains("refunded"), "{mail:#?}");
}

async fn steps_that_mail_nobody(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    for kind in [
        TimelineKind::Placed,
        TimelineKind::Started,
        TimelineKind::Accepted,
        TimelineKind::PaymentRefused,
    ] {
        let mails = service
            .mails_of(&order.id, &changed(&order, kind, Actor::Buyer, "", None))
            .await;
        assert!(mails.is_empty(), "{kind:?}: {mails:#?}");
    }
    assert!(service.sent_mail().await.is_empty());
}

async fn a_late_order_tells_both_sides_what_they_can_do(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    let mails = service
        .mails_of(
            &order.id,
            &changed(&order, TimelineKind::Late, Actor::System, "", None),
        )
        .await;
    let buyer = mail_to(&mails, BUYER_EMAIL);
    assert_eq!(buyer.subject, "Your order is late: Logo design");
    buyer.says("cancel it with a full refund");
    let seller = mail_to(&mails, SELLER_EMAIL);
    seller.says("Please deliver as soon as you can");
    seller.links_to_order(&order.id);
    let sent = service.sent_mail().await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|(_, kind, _)| kind == "order_late"),
        "{sent:?}"
    );
}

async fn requests_and_disputes_mail_the_other_side(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let mut order = service.order();
    let key = order.id.clone();
    order.pending_cancellation = Some(PendingRequest {
        requested_by: Actor::Seller as i32,
        reason: "I fell ill.".to_owned(),
        days: 0,
        request_time: None,
        answer_deadline: Some(timestamp_from_millis(DUE_MILLIS)),
    });

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::CancellationRequested,
                Actor::Seller,
                "I fell ill.",
                None,
            ),
        )
        .await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "Cancellation requested: Logo design");
    mail.says("The seller asks to cancel");
    mail.says("I fell ill.");
    mail.says("accepted on 2026-12-10 12:00 UTC");

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::CancellationRequested,
                Actor::Buyer,
                "Too slow.",
                None,
            ),
        )
        .await;
    only_mail_to(&mails, SELLER_EMAIL, "Cancellation requested").says("The buyer asks to cancel");

    // The buyer declines: the seller asked.
    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::CancellationDeclined,
                Actor::Buyer,
                "",
                None,
            ),
        )
        .await;
    only_mail_to(&mails, SELLER_EMAIL, "Cancellation declined: Logo design")
        .says("The buyer declined cancelling");

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::DisputeOpened,
                Actor::Buyer,
                "Nothing delivered.",
                None,
            ),
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "Dispute opened: Logo design");
    mail.says("The buyer opened a dispute");
    mail.says("Nothing delivered.");

    let mails = service
        .mails_of(
            &key,
            &changed(
                &order,
                TimelineKind::DisputeOpened,
                Actor::Seller,
                "No answers.",
                None,
            ),
        )
        .await;
    only_mail_to(&mails, BUYER_EMAIL, "Dispute opened").says("The seller opened a dispute");
}

async fn a_cancelled_paid_order_says_it_is_refunded(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    let mails = service
        .mails_of(
            &order.id,
            &changed(
                &order,
                TimelineKind::Cancelled,
                Actor::System,
                "Both sides agreed.",
                Some(full_refund()),
            ),
        )
        .await;
    let buyer = mail_to(&mails, BUYER_EMAIL);
    assert_eq!(buyer.subject, "Order cancelled and refunded: Logo design");
    buyer.says("USD 52.75 is refunded to you");
    buyer.says("Both sides agreed.");
    let seller = mail_to(&mails, SELLER_EMAIL);
    assert_eq!(seller.subject, "Order cancelled: Logo design");
    seller.says("The buyer is refunded USD 52.75");
}

async fn a_resolved_dispute_tells_both_the_outcome_and_amounts(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    // A split: 20.00 of the subtotal back; the seller gets 30.00 less 20% commission.
    let mut resolved = changed(
        &order,
        TimelineKind::DisputeResolved,
        Actor::Admin,
        "Half the work was done.",
        Some(Settlement {
            refund: usd(2000),
            platform_fee: usd(875),
            seller_earnings: usd(2400),
        }),
    );
    if let Some(entry) = resolved.entry.as_mut() {
        entry.resolution = DisputeResolution::Split as i32;
    }
    let mails = service.mails_of(&order.id, &resolved).await;
    let buyer = mail_to(&mails, BUYER_EMAIL);
    assert_eq!(buyer.subject, "Dispute resolved: Logo design");
    buyer.says("split between buyer and seller");
    buyer.says("USD 20.00 is refunded to you.");
    buyer.says("The seller is paid USD 24.00.");
    buyer.says("Half the work was done.");
    let seller = mail_to(&mails, SELLER_EMAIL);
    seller.says("The buyer is refunded USD 20.00.");
    seller.says("You earn USD 24.00");
    seller.links_to_order(&order.id);
}

async fn a_completed_order_pays_the_seller_and_thanks_the_buyer(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    let mails = service
        .mails_of(
            &order.id,
            &changed(
                &order,
                TimelineKind::Completed,
                Actor::Buyer,
                "",
                Some(Settlement {
                    refund: usd(0),
                    platform_fee: usd(1275),
                    seller_earnings: usd(4000),
                }),
            ),
        )
        .await;
    let buyer = mail_to(&mails, BUYER_EMAIL);
    assert_eq!(buyer.subject, "Order complete: Logo design");
    buyer.says("Thank you for ordering on gigmesh!");
    let seller = mail_to(&mails, SELLER_EMAIL);
    seller.says("You earn USD 40.00.");
    seller.says("after the clearance period");
}

async fn payment_events_mail_the_buyer_or_the_seller(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order_id = Uuid::now_v7().to_string();
    let (buyer_id, seller_id) = (service.buyer_id.clone(), service.seller_id.clone());

    let mails = service
        .mails_of(
            &order_id,
            &PaymentSucceeded {
                order_id: order_id.clone(),
                buyer_id: buyer_id.clone(),
                payment_id: "pay_123".to_owned(),
                amount: usd(5275),
                provider: "sandbox".to_owned(),
            },
        )
        .await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "Receipt: USD 52.75 paid");
    mail.says(&format!("payment of USD 52.75 for order {order_id}"));
    mail.says("pay_123");
    mail.links_to_order(&order_id);

    let mails = service
        .mails_of(
            &order_id,
            &PaymentFailed {
                order_id: order_id.clone(),
                buyer_id: buyer_id.clone(),
                reason: "Your card was declined.".to_owned(),
                amount: usd(5275),
            },
        )
        .await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "failed");
    mail.says("did not go through");
    mail.says("Your card was declined.");

    let mails = service
        .mails_of(
            &order_id,
            &RefundIssued {
                order_id: order_id.clone(),
                buyer_id: buyer_id.clone(),
                refund_id: "ref_1".to_owned(),
                amount: usd(5275),
                reason: "order cancelled".to_owned(),
            },
        )
        .await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "Refund of USD 52.75");
    mail.says("order cancelled");
    mail.links_to_order(&order_id);

    let mails = service
        .mails_of(
            &order_id,
            &InvoiceIssued {
                order_id: order_id.clone(),
                number: "GM-2026-000042".to_owned(),
                buyer_id: buyer_id.clone(),
                seller_id: seller_id.clone(),
                total: usd(5275),
            },
        )
        .await;
    let mail = only_mail_to(&mails, BUYER_EMAIL, "Invoice GM-2026-000042");
    mail.says("USD 52.75 paid");

    let mails = service
        .mails_of(
            &seller_id,
            &FundsCleared {
                seller_id: seller_id.clone(),
                order_id: order_id.clone(),
                amount: usd(4000),
            },
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "USD 40.00 is available to withdraw");
    mail.says(&format!("on order {order_id}"));
    assert!(
        mail.text.contains(&format!("{WEB_APP_URL}/earnings")),
        "{mail:#?}"
    );

    let mails = service
        .mails_of(
            &seller_id,
            &WithdrawalSent {
                seller_id: seller_id.clone(),
                withdrawal_id: "wd_1".to_owned(),
                amount: usd(4000),
            },
        )
        .await;
    only_mail_to(&mails, SELLER_EMAIL, "Withdrawal of USD 40.00 sent").says("wd_1");

    let mails = service
        .mails_of(
            &seller_id,
            &WithdrawalFailed {
                seller_id: seller_id.clone(),
                withdrawal_id: "wd_2".to_owned(),
                amount: usd(4000),
                reason: "The account is closed.".to_owned(),
            },
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "Withdrawal of USD 40.00 failed");
    mail.says("The account is closed.");
    mail.says("available in your balance again");

    let kinds: Vec<String> = service
        .sent_mail()
        .await
        .into_iter()
        .map(|(_, kind, _)| kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "payment_receipt",
            "payment_failed",
            "refund_issued",
            "invoice_issued",
            "funds_cleared",
            "withdrawal_sent",
            "withdrawal_failed"
        ]
    );
}

async fn amounts_follow_the_currency_s_minor_units(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = order_between(&service.buyer_id, &service.seller_id, "Logo design", jpy);
    let mails = service
        .mails_of(
            &order.id,
            &changed(&order, TimelineKind::Paid, Actor::System, "", None),
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "New order");
    mail.says("JPY 5,275");
    mail.says("You earn JPY 4,000");
}

async fn an_order_event_before_the_address_is_mailed_once_it_arrives(backend: Backend) {
    let mut service = Service::start(backend).await;
    let order = service.order();
    // The payment overtakes the seller's UserRegistered (another topic, another consumer).
    service
        .publish(
            &order.id,
            &changed(&order, TimelineKind::Paid, Actor::System, "", None),
        )
        .await;
    let waiting = service
        .order_events
        .poll_once(STEP_WAIT)
        .await
        .expect("poll");
    let PollOutcome::Failed {
        attempt: 1, error, ..
    } = &waiting
    else {
        panic!("the event waits for the address: {waiting:?}");
    };
    assert!(
        error.contains(&format!(
            "no email address is known yet for user {}",
            service.seller_id
        )),
        "{error}"
    );
    assert!(service.new_mails().is_empty());

    let seller_id = service.seller_id.clone();
    service.register(&seller_id, SELLER_EMAIL, "grace").await;
    service.consume_auth().await;
    let outcomes = service.consume_orders().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );
    let mails = service.new_mails();
    let mail = only_mail_to(&mails, SELLER_EMAIL, "New order: Logo design");
    // No profile yet: greeted by the username.
    mail.says("Hi grace,");
    let dead_letters: i64 = sqlx::query("SELECT COUNT(*) AS count FROM dead_letters")
        .fetch_one(service.deps.db().pool())
        .await
        .expect("count dead letters")
        .get("count");
    assert_eq!(dead_letters, 0);
}

async fn a_profile_before_the_address_keeps_its_name(backend: Backend) {
    let mut service = Service::start(backend).await;
    let buyer_id = service.buyer_id.clone();
    service
        .publish(&buyer_id, &profile(&buyer_id, "ada", "Ada Lovelace"))
        .await;
    service.consume_orders().await;
    service.register(&buyer_id, BUYER_EMAIL, "ada").await;
    service.consume_auth().await;
    let order = service.order();
    let mails = service
        .mails_of(
            &order.id,
            &changed(&order, TimelineKind::Expired, Actor::System, "", None),
        )
        .await;
    only_mail_to(&mails, BUYER_EMAIL, "Order expired").says("Hi Ada Lovelace,");
}

async fn an_address_that_never_arrives_dead_letters_with_the_reason(backend: Backend) {
    let deps = TestDeps::new(backend).await.with_event_max_attempts(2);
    let mut service =
        Service::start_with(deps, |config| config.order_events_max_attempts = 3).await;
    let buyer_id = service.buyer_id.clone();
    service.register(&buyer_id, BUYER_EMAIL, "ada").await;
    service.consume_auth().await;
    let order = service.order();
    // The seller is unknown; the buyer is known, and gets no mail of this event either.
    let envelope = service
        .publish(
            &order.id,
            &changed(&order, TimelineKind::Late, Actor::System, "", None),
        )
        .await;
    let outcomes = service.consume_orders().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::Failed { attempt: 1, .. },
                PollOutcome::Failed { attempt: 2, .. },
                PollOutcome::DeadLettered { .. }
            ]
        ),
        "{outcomes:?}"
    );
    assert!(service.new_mails().is_empty());
    assert!(service.sent_mail().await.is_empty());
    let rows = sqlx::query("SELECT event_id, attempts, error FROM dead_letters")
        .fetch_all(service.deps.db().pool())
        .await
        .expect("read dead letters");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("event_id"), envelope.event_id);
    assert_eq!(rows[0].get::<i64, _>("attempts"), 3);
    let error: String = rows[0].get("error");
    assert!(
        error.contains(&format!(
            "no email address is known yet for user {}, the seller of the \
             gigmesh.orders.v1.OrderChanged event",
            service.seller_id
        )),
        "{error}"
    );
}

async fn a_redelivered_event_mails_once(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let order = service.order();
    let envelope = service
        .publish(
            &order.id,
            &changed(&order, TimelineKind::Late, Actor::System, "", None),
        )
        .await;
    gigmesh_testing::publish_envelope(&service.deps.bus(), gigmesh_proto::orders::TOPIC, &envelope)
        .await;
    let outcomes = service.consume_orders().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );
    assert_eq!(service.new_mails().len(), 2, "one to each side");
    let sent = service.sent_mail().await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(event_id, _, _)| event_id == &envelope.event_id)
    );
}

async fn a_hostile_gig_title_and_message_are_escaped(backend: Backend) {
    let mut service = Service::start(backend).await;
    let (buyer_id, seller_id) = (service.buyer_id.clone(), service.seller_id.clone());
    service.register(&buyer_id, BUYER_EMAIL, "ada").await;
    service.register(&seller_id, SELLER_EMAIL, "grace").await;
    service
        .publish(
            &seller_id,
            &profile(&seller_id, "grace", "<img src=x onerror=alert(1)>"),
        )
        .await;
    service.consume_auth().await;
    service.consume_orders().await;
    let title = "<script>alert('gig')</script> & \"logos\"";
    let order = order_between(&buyer_id, &seller_id, title, usd);
    let mails = service
        .mails_of(
            &order.id,
            &changed(
                &order,
                TimelineKind::RevisionRequested,
                Actor::Buyer,
                "<b>now</b>",
                None,
            ),
        )
        .await;
    let mail = only_mail_to(&mails, SELLER_EMAIL, "Revision requested");
    assert!(!mail.html.contains("<script>"), "{}", mail.html);
    assert!(!mail.html.contains("<b>now</b>"), "{}", mail.html);
    assert!(!mail.html.contains("<img"), "{}", mail.html);
    assert!(
        mail.html
            .contains("&lt;script&gt;alert(&#39;gig&#39;)&lt;/script&gt; &amp; &quot;logos&quot;"),
        "{}",
        mail.html
    );
    assert!(mail.html.contains("&lt;b&gt;now&lt;/b&gt;"));
    assert!(mail.html.contains("Hi &lt;img src=x onerror=alert(1)&gt;,"));
    // The plain text keeps what the users wrote.
    assert!(mail.text.contains(title));
    assert!(mail.subject.contains("<script>alert('gig')</script>"));
}

async fn a_new_verified_address_and_profile_name_are_used(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let buyer_id = service.buyer_id.clone();
    service
        .publish(
            &buyer_id,
            &EmailVerified {
                user_id: buyer_id.clone(),
                email: "ada@new.example.com".to_owned(),
            },
        )
        .await;
    service
        .publish(&buyer_id, &profile(&buyer_id, "ada", "Countess Ada"))
        .await;
    service.consume_auth().await;
    service.consume_orders().await;
    let order = service.order();
    let mails = service
        .mails_of(
            &order.id,
            &changed(&order, TimelineKind::Expired, Actor::System, "", None),
        )
        .await;
    let mail = only_mail_to(&mails, "ada@new.example.com", "Order expired");
    assert_eq!(mail.to_name.as_deref(), Some("Countess Ada"));
    mail.says("Hi Countess Ada,");
}

async fn a_malformed_order_event_is_dead_lettered_at_once(backend: Backend) {
    let mut service = Service::with_buyer_and_seller(backend).await;
    let mut order = service.order();
    order.seller_id = "not-a-user-id".to_owned();
    service
        .publish(
            &order.id,
            &changed(&order, TimelineKind::Paid, Actor::System, "", None),
        )
        .await;
    let mut bad_currency = service.order();
    if let Some(price) = bad_currency.price.as_mut() {
        price.total = Some(Money {
            amount_minor: 5275,
            currency: "XXQ".to_owned(),
        });
    }
    service
        .publish(
            &bad_currency.id,
            &changed(&bad_currency, TimelineKind::Paid, Actor::System, "", None),
        )
        .await;
    let outcomes = service.consume_orders().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::DeadLettered { .. },
                PollOutcome::DeadLettered { .. }
            ]
        ),
        "{outcomes:?}"
    );
    assert!(service.new_mails().is_empty());
}

gigmesh_testing::on_sqlite_and_postgres!(
    steps_that_mail_the_seller_alone,
    steps_that_mail_the_buyer_alone,
    steps_that_mail_nobody,
    a_late_order_tells_both_sides_what_they_can_do,
    requests_and_disputes_mail_the_other_side,
    a_cancelled_paid_order_says_it_is_refunded,
    a_resolved_dispute_tells_both_the_outcome_and_amounts,
    a_completed_order_pays_the_seller_and_thanks_the_buyer,
    payment_events_mail_the_buyer_or_the_seller,
    amounts_follow_the_currency_s_minor_units,
    an_order_event_before_the_address_is_mailed_once_it_arrives,
    a_profile_before_the_address_keeps_its_name,
    an_address_that_never_arrives_dead_letters_with_the_reason,
    a_redelivered_event_mails_once,
    a_hostile_gig_title_and_message_are_escaped,
    a_new_verified_address_and_profile_name_are_used,
    a_malformed_order_event_is_dead_lettered_at_once,
);
