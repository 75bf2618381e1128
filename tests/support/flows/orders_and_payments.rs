//! Orders and their money through the gateway: a buyer orders a seller's gig with an extra,
//! pays, answers the requirements; the seller delivers, the buyer asks for a revision, the
//! seller delivers again and the buyer accepts; the seller's earnings are pending, then
//! available after the clearance period, then withdrawn. A second order is cancelled by
//! mutual agreement and refunded; a third is disputed and split by an admin. Every step's
//! mail arrives, and the ledger balances to the cent after each order. The same story runs
//! on every payment provider; only how the buyer pays and how the seller's payout account
//! gets connected differ ([`Payer`]).

use std::path::Path;
use std::time::{Duration, Instant};

use gigmesh_proto::auth;
use gigmesh_proto::gigs;
use gigmesh_proto::orders::{self, OrderState};
use gigmesh_proto::payments::{self, PaymentStatus};
use gigmesh_proto::types::Money;
use gigmesh_testing::TestStripe;
use tonic::Code;

use super::gigs_and_search::{create_and_publish_gig, signed_up_seller, usd};
use super::methods::{
    ACCEPT_DELIVERY, ANSWER_CANCELLATION, CONFIRM_SANDBOX_PAYMENT, DELIVER_ORDER, GET_INVOICE,
    GET_LEDGER_SUMMARY, GET_MY_BALANCE, GET_ORDER, GET_ORDER_PAYMENT, OPEN_DISPUTE, PLACE_ORDER,
    REQUEST_CANCELLATION, REQUEST_REVISION, RESOLVE_DISPUTE, START_PAYOUT_ONBOARDING,
    SUBMIT_REQUIREMENTS, WITHDRAW,
};
use super::{NewAccount, log_in, sign_up_and_verify, wait_for_profile};
use crate::support::mail::wait_for_mail;
use crate::support::rpc::Rpc;

/// The sandbox's card that succeeds.
const TEST_CARD: &str = "4242424242424242";
/// The basic package's price and the extra's, in cents.
const PACKAGE_PRICE: i64 = 5_000;
const EXTRA_PRICE: i64 = 1_500;

/// How the buyer's client pays the payment that GetOrderPayment describes, and how the
/// seller's payout account becomes able to receive transfers.
pub enum Payer<'a> {
    /// The sandbox provider, with a test card through ConfirmSandboxPayment.
    Sandbox,
    /// The sandbox provider, with a test card through the gateway's checkout page, as a
    /// person in a browser would.
    SandboxCheckoutPage,
    /// Stripe (a [`TestStripe`] whose webhooks go to the gateway's `/webhooks/stripe`): the
    /// buyer's client confirms the PaymentIntent with a test card and its client secret as
    /// Stripe.js does, and the order is paid once Stripe's signed webhook reaches the
    /// gateway; the seller finishes Stripe's hosted onboarding at the link
    /// StartPayoutOnboarding answers, which Stripe announces with `account.updated`.
    Stripe(&'a TestStripe),
}

impl Payer<'_> {
    async fn pay(&self, rpc: &Rpc, payment: &payments::OrderPayment) {
        match self {
            Payer::Sandbox => {
                assert_eq!(payment.provider, "sandbox");
                let confirmed: payments::ConfirmSandboxPaymentResponse = rpc
                    .call(
                        CONFIRM_SANDBOX_PAYMENT,
                        payments::ConfirmSandboxPaymentRequest {
                            payment_id: payment.payment_id.clone(),
                            client_secret: payment.client_secret.clone(),
                            card_number: TEST_CARD.to_owned(),
                            authenticate: false,
                        },
                        None,
                    )
                    .await
                    .expect("pay with the test card");
                assert_eq!(confirmed.status(), PaymentStatus::Succeeded);
            }
            Payer::SandboxCheckoutPage => {
                assert_eq!(payment.provider, "sandbox");
                pay_on_checkout_page(&payment.checkout_url).await;
            }
            Payer::Stripe(stripe) => {
                assert_eq!(payment.provider, "stripe");
                assert_eq!(
                    payment.checkout_url, "",
                    "Stripe has no sandbox checkout page"
                );
                assert_eq!(payment.status(), PaymentStatus::RequiresPaymentMethod);
                let confirmed = stripe
                    .confirm_card_payment(
                        &payment.payment_id,
                        &payment.client_secret,
                        gigmesh_testing::stripe::CARD_SUCCEEDS,
                    )
                    .await
                    .expect("pay with the test card as Stripe.js does");
                assert_eq!(confirmed.status, "succeeded", "{confirmed:?}");
            }
        }
    }

    /// Connects the seller's payout account (StartPayoutOnboarding, then what the provider
    /// asks of the seller) and waits until payments knows it can receive transfers.
    async fn connect_payout_account(
        &self,
        rpc: &Rpc,
        seller_token: &str,
        amount: Option<Money>,
        within: Duration,
    ) {
        let started: payments::StartPayoutOnboardingResponse = rpc
            .call(
                START_PAYOUT_ONBOARDING,
                payments::StartPayoutOnboardingRequest {
                    return_url: "http://127.0.0.1/earnings".to_owned(),
                },
                Some(seller_token),
            )
            .await
            .expect("connect the payout account");
        match self {
            Payer::Sandbox | Payer::SandboxCheckoutPage => {
                assert!(
                    started.connected,
                    "the sandbox connects at once: {started:?}"
                );
            }
            Payer::Stripe(stripe) => {
                assert!(!started.connected, "{started:?}");
                assert!(
                    started
                        .onboarding_url
                        .starts_with("https://connect.stripe.com/"),
                    "Stripe's hosted onboarding: {started:?}"
                );
                let early = rpc
                    .call::<_, payments::Withdrawal>(
                        WITHDRAW,
                        payments::WithdrawRequest {
                            amount,
                            request_id: "before-onboarding".to_owned(),
                        },
                        Some(seller_token),
                    )
                    .await
                    .expect_err("no transfer before the onboarding is finished");
                assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
                assert!(early.message().contains("onboarding"), "{early:?}");
                let account = stripe
                    .account_of_onboarding_link(&started.onboarding_url)
                    .expect("the link names the seller's account");
                stripe
                    .complete_onboarding(&account)
                    .await
                    .expect("finish Stripe's onboarding; account.updated reaches the gateway");
            }
        }
        let deadline = Instant::now() + within;
        loop {
            let balances: payments::GetMyBalanceResponse = rpc
                .call(
                    GET_MY_BALANCE,
                    payments::GetMyBalanceRequest {},
                    Some(seller_token),
                )
                .await
                .expect("the seller's balance");
            if balances.payout_account_connected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "payments never learnt that the payout account is connected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Opens the checkout page at `checkout_url` and posts its card form with the test card, as
/// the browser does with the form the page shows.
async fn pay_on_checkout_page(checkout_url: &str) {
    use http_body_util::{BodyExt as _, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let page = client
        .request(
            http::Request::get(checkout_url)
                .body(Full::default())
                .expect("request"),
        )
        .await
        .expect("open the checkout page");
    assert_eq!(page.status(), http::StatusCode::OK, "{checkout_url}");
    let form = page.into_body().collect().await.expect("page").to_bytes();
    let form = String::from_utf8_lossy(&form);
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = form.find(&marker).expect("hidden field") + marker.len();
        form[start..start + form[start..].find('"').expect("end")].to_owned()
    };
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payment", &hidden("payment"))
        .append_pair("secret", &hidden("secret"))
        .append_pair("card_number", TEST_CARD)
        .finish();
    let action = checkout_url.split('?').next().expect("url");
    let paid = client
        .request(
            http::Request::post(action)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "same-origin")
                .body(Full::new(body.into()))
                .expect("request"),
        )
        .await
        .expect("post the card form");
    let status = paid.status();
    let page = paid.into_body().collect().await.expect("page").to_bytes();
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, http::StatusCode::OK, "{page}");
    assert!(page.contains("Payment received"), "{page}");
}

/// The two sides of the flow's orders, and an admin.
struct Parties {
    seller: auth::Tokens,
    seller_email: String,
    buyer: auth::Tokens,
    buyer_email: String,
    admin: String,
}

/// The whole flow; `within` bounds each wait for an event to cross the mesh, and
/// `clearance` is the clearance period the mesh runs with.
pub async fn orders_and_payments_flow(
    rpc: &Rpc,
    mail_directory: &Path,
    payer: &Payer<'_>,
    (admin_login, admin_password): (&str, &str),
    within: Duration,
    clearance: Duration,
) {
    let seller_account = NewAccount::unique("seller");
    let seller = signed_up_seller(rpc, mail_directory, &seller_account).await;
    let buyer_account = NewAccount::unique("buyer");
    let buyer = sign_up_and_verify(rpc, mail_directory, &buyer_account)
        .await
        .tokens
        .expect("tokens");
    wait_for_profile(rpc, &buyer.access_token).await;
    let admin = log_in(rpc, admin_login, admin_password)
        .await
        .tokens
        .expect("admin tokens")
        .access_token;
    let parties = Parties {
        seller,
        seller_email: seller_account.email,
        buyer,
        buyer_email: buyer_account.email,
        admin,
    };
    let gig_id = publish_gig_with_extra(rpc, &parties.seller.access_token).await;
    let extra_id = wait_for_orderable(rpc, &parties, &gig_id, within).await;

    completed_order(
        rpc,
        mail_directory,
        payer,
        &parties,
        &gig_id,
        &extra_id,
        within,
        clearance,
    )
    .await;
    cancelled_order(rpc, mail_directory, payer, &parties, &gig_id, within).await;
    disputed_order(rpc, mail_directory, payer, &parties, &gig_id, within).await;
}

/// A gig with a basic package (two revisions), a paid extra and one required question.
async fn publish_gig_with_extra(rpc: &Rpc, seller_token: &str) -> String {
    let gig = gigs::Gig {
        title: "Hand-drawn illustration of your pet".to_owned(),
        description: "A portrait in ink and watercolour, scanned at 600 dpi.".to_owned(),
        category_id: "graphics-design".to_owned(),
        subcategory_id: "illustration".to_owned(),
        tags: vec!["pet".to_owned(), "portrait".to_owned()],
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "One pet".to_owned(),
            description: "One pet, one colour background".to_owned(),
            price: usd(PACKAGE_PRICE),
            delivery_days: 5,
            revisions: 2,
            features: vec!["print-ready file".to_owned()],
        }],
        extras: vec![gigs::Extra {
            title: "Express delivery".to_owned(),
            price: usd(EXTRA_PRICE),
            extra_days: 0,
            ..Default::default()
        }],
        gallery: vec![gigs::GalleryItem {
            kind: gigs::MediaKind::Image as i32,
            url: "https://cdn.example.com/pet.png".to_owned(),
            cover: true,
        }],
        requirements: vec![gigs::Requirement {
            question: "What is your pet's name?".to_owned(),
            kind: gigs::RequirementKind::Text as i32,
            required: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    create_and_publish_gig(rpc, seller_token, gig).await.id
}

/// Waits until orders knows the published gig (its read model follows the gig events), and
/// returns the id of its extra.
async fn wait_for_orderable(
    rpc: &Rpc,
    parties: &Parties,
    gig_id: &str,
    within: Duration,
) -> String {
    let gig: gigs::Gig = rpc
        .call(
            "/gigmesh.gigs.v1.GigService/GetGig",
            gigs::GetGigRequest {
                gig: Some(gigs::get_gig_request::Gig::GigId(gig_id.to_owned())),
            },
            None,
        )
        .await
        .expect("the gig");
    let extra_id = gig.extras[0].id.clone();
    // An order of one's own gig is refused, whether or not orders knows the gig yet: this
    // waits for orders to know it as published, with an order that cannot be placed.
    let deadline = Instant::now() + within;
    loop {
        let refused = rpc
            .call::<_, orders::Order>(
                PLACE_ORDER,
                place_request(gig_id, &[], "own-gig"),
                Some(&parties.seller.access_token),
            )
            .await
            .expect_err("nobody orders their own gig");
        if refused.code() == Code::FailedPrecondition && refused.message().contains("own gig") {
            return extra_id;
        }
        // Not known yet, or known only as the draft it was before it was published: a
        // draft does not exist for buyers.
        let not_yet = refused.code() == Code::NotFound;
        assert!(not_yet, "{refused:?}");
        assert!(Instant::now() < deadline, "orders never learnt the gig");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn place_request(gig_id: &str, extras: &[&str], request_id: &str) -> orders::PlaceOrderRequest {
    orders::PlaceOrderRequest {
        gig_id: gig_id.to_owned(),
        tier: gigs::PackageTier::Basic as i32,
        extras: extras
            .iter()
            .map(|extra_id| orders::ExtraChoice {
                extra_id: (*extra_id).to_owned(),
                quantity: 1,
            })
            .collect(),
        request_id: format!("{request_id}-{}", uuid::Uuid::now_v7()),
    }
}

/// Places and pays an order; returns it in progress or waiting for requirements.
async fn paid_order(
    rpc: &Rpc,
    payer: &Payer<'_>,
    parties: &Parties,
    gig_id: &str,
    extras: &[&str],
    within: Duration,
) -> orders::Order {
    let request = place_request(gig_id, extras, "order");
    let order: orders::Order = rpc
        .call(
            PLACE_ORDER,
            request.clone(),
            Some(&parties.buyer.access_token),
        )
        .await
        .expect("place the order");
    assert_eq!(order.state(), OrderState::AwaitingPayment);
    let retried: orders::Order = rpc
        .call(PLACE_ORDER, request, Some(&parties.buyer.access_token))
        .await
        .expect("retry the same request");
    assert_eq!(retried.id, order.id, "a retry returns the same order");

    let payment = wait_for_payment(rpc, &parties.buyer.access_token, &order.id, within).await;
    let total = order.price.as_ref().and_then(|price| price.total.clone());
    assert_eq!(payment.amount, total, "the buyer pays the order's total");
    // Only the buyer sees what pays for the order.
    let hidden = rpc
        .call::<_, payments::OrderPayment>(
            GET_ORDER_PAYMENT,
            payments::GetOrderPaymentRequest {
                order_id: order.id.clone(),
            },
            Some(&parties.seller.access_token),
        )
        .await
        .expect_err("the seller does not read the buyer's payment");
    assert_eq!(hidden.code(), Code::NotFound);

    payer.pay(rpc, &payment).await;
    wait_for_state(
        rpc,
        &parties.buyer.access_token,
        &order.id,
        &[OrderState::RequirementsPending, OrderState::InProgress],
        within,
    )
    .await
}

/// GetOrderPayment, once payments knows the order (it learns it from orders' event).
async fn wait_for_payment(
    rpc: &Rpc,
    buyer_token: &str,
    order_id: &str,
    within: Duration,
) -> payments::OrderPayment {
    let deadline = Instant::now() + within;
    loop {
        let answer = rpc
            .call::<_, payments::OrderPayment>(
                GET_ORDER_PAYMENT,
                payments::GetOrderPaymentRequest {
                    order_id: order_id.to_owned(),
                },
                Some(buyer_token),
            )
            .await;
        match answer {
            Ok(payment) => return payment,
            Err(status) if matches!(status.code(), Code::NotFound | Code::Unavailable) => {
                assert!(
                    Instant::now() < deadline,
                    "payments never learnt order {order_id}: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("GetOrderPayment: {status:?}"),
        }
    }
}

async fn get_order(rpc: &Rpc, token: &str, order_id: &str) -> orders::Order {
    rpc.call(
        GET_ORDER,
        orders::GetOrderRequest {
            order_id: order_id.to_owned(),
        },
        Some(token),
    )
    .await
    .expect("get the order")
}

/// Polls the order until it is in one of `states`.
async fn wait_for_state(
    rpc: &Rpc,
    token: &str,
    order_id: &str,
    states: &[OrderState],
    within: Duration,
) -> orders::Order {
    let deadline = Instant::now() + within;
    loop {
        let order = get_order(rpc, token, order_id).await;
        if states.contains(&order.state()) {
            return order;
        }
        assert!(
            Instant::now() < deadline,
            "order {order_id} stayed {:?}, expected one of {states:?}",
            order.state()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls an order RPC that answers the order, as `token`.
async fn act<Request>(rpc: &Rpc, path: &'static str, request: Request, token: &str) -> orders::Order
where
    Request: prost::Message + Send + Sync + 'static,
{
    rpc.call(path, request, Some(token))
        .await
        .unwrap_or_else(|status| panic!("{path}: {status:?}"))
}

/// The ledger balances, and its summary shows no violation.
async fn assert_ledger_balanced(rpc: &Rpc, parties: &Parties, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let summary: payments::LedgerSummary = rpc
            .call(
                GET_LEDGER_SUMMARY,
                payments::GetLedgerSummaryRequest {},
                Some(&parties.admin),
            )
            .await
            .expect("the ledger summary");
        if summary.balanced {
            return;
        }
        // A settlement may still be on its way; a violation that stays is a failure.
        assert!(
            Instant::now() < deadline,
            "the ledger does not balance: {:?}",
            summary.violations
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn amount(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(0, |money| money.amount_minor)
}

/// The seller's balance in USD.
async fn usd_balance(rpc: &Rpc, seller_token: &str) -> payments::Balance {
    let balances: payments::GetMyBalanceResponse = rpc
        .call(
            GET_MY_BALANCE,
            payments::GetMyBalanceRequest {},
            Some(seller_token),
        )
        .await
        .expect("the seller's balance");
    balances
        .balances
        .into_iter()
        .find(|balance| {
            balance
                .pending
                .as_ref()
                .or(balance.available.as_ref())
                .is_some_and(|money| money.currency == "USD")
        })
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn completed_order(
    rpc: &Rpc,
    mail: &Path,
    payer: &Payer<'_>,
    parties: &Parties,
    gig_id: &str,
    extra_id: &str,
    within: Duration,
    clearance: Duration,
) {
    let buyer = &parties.buyer.access_token;
    let seller = &parties.seller.access_token;
    let order = paid_order(rpc, payer, parties, gig_id, &[extra_id], within).await;
    let price = order.price.clone().expect("price");
    assert_eq!(amount(&price.subtotal), PACKAGE_PRICE + EXTRA_PRICE);
    assert_eq!(
        amount(&price.total),
        amount(&price.subtotal) + amount(&price.service_fee)
    );
    assert_eq!(order.state(), OrderState::RequirementsPending);
    wait_for_mail(mail, &parties.buyer_email, "receipt").await;
    wait_for_mail(mail, &parties.seller_email, "new order").await;
    let invoice: payments::Invoice = rpc
        .call(
            GET_INVOICE,
            payments::GetInvoiceRequest {
                order_id: order.id.clone(),
            },
            Some(buyer),
        )
        .await
        .expect("the invoice");
    assert_eq!(invoice.total, price.total);

    // A seller cannot accept for the buyer; the buyer answers the requirements.
    let refused = rpc
        .call::<_, orders::Order>(
            ACCEPT_DELIVERY,
            orders::AcceptDeliveryRequest {
                order_id: order.id.clone(),
            },
            Some(seller),
        )
        .await
        .expect_err("the seller does not accept");
    assert!(
        matches!(
            refused.code(),
            Code::PermissionDenied | Code::FailedPrecondition
        ),
        "{refused:?}"
    );
    let started = act(
        rpc,
        SUBMIT_REQUIREMENTS,
        orders::SubmitRequirementsRequest {
            order_id: order.id.clone(),
            answers: vec![orders::RequirementAnswer {
                question_index: 0,
                text: "Biscuit".to_owned(),
                ..Default::default()
            }],
        },
        buyer,
    )
    .await;
    assert_eq!(started.state(), OrderState::InProgress);
    wait_for_mail(mail, &parties.seller_email, "requirements submitted").await;

    let deliver = || orders::DeliverOrderRequest {
        order_id: order.id.clone(),
        message: "Here is Biscuit.".to_owned(),
        attachment_urls: vec!["https://cdn.example.com/biscuit.png".to_owned()],
    };
    let delivered = act(rpc, DELIVER_ORDER, deliver(), seller).await;
    assert_eq!(delivered.state(), OrderState::Delivered);
    wait_for_mail(mail, &parties.buyer_email, "delivered").await;
    let revised = act(
        rpc,
        REQUEST_REVISION,
        orders::RequestRevisionRequest {
            order_id: order.id.clone(),
            message: "A little more blue, please.".to_owned(),
        },
        buyer,
    )
    .await;
    assert_eq!(revised.state(), OrderState::InProgress);
    assert_eq!(revised.revisions_used, 1);
    wait_for_mail(mail, &parties.seller_email, "revision requested").await;
    act(rpc, DELIVER_ORDER, deliver(), seller).await;
    let completed = act(
        rpc,
        ACCEPT_DELIVERY,
        orders::AcceptDeliveryRequest {
            order_id: order.id.clone(),
        },
        buyer,
    )
    .await;
    assert_eq!(completed.state(), OrderState::Completed);
    let timeline = get_order(rpc, buyer, &order.id).await.timeline;
    assert!(timeline.len() >= 8, "{timeline:?}");
    wait_for_mail(mail, &parties.buyer_email, "order complete").await;
    wait_for_mail(mail, &parties.seller_email, "order complete").await;

    // The seller's share is pending, then available after the clearance period.
    let earnings = amount(&price.seller_earnings);
    let deadline = Instant::now() + within + clearance;
    let cleared = loop {
        let balance = usd_balance(rpc, seller).await;
        if amount(&balance.available) == earnings {
            break balance;
        }
        assert!(
            amount(&balance.pending) + amount(&balance.available) <= earnings,
            "{balance:?}"
        );
        assert!(Instant::now() < deadline, "never cleared: {balance:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(amount(&cleared.pending), 0);
    wait_for_mail(mail, &parties.seller_email, "available to withdraw").await;
    assert_ledger_balanced(rpc, parties, within).await;

    let too_much = rpc
        .call::<_, payments::Withdrawal>(
            WITHDRAW,
            payments::WithdrawRequest {
                amount: usd(earnings + 1),
                request_id: "too-much".to_owned(),
            },
            Some(seller),
        )
        .await
        .expect_err("more than is available");
    assert!(
        matches!(
            too_much.code(),
            Code::FailedPrecondition | Code::InvalidArgument
        ),
        "{too_much:?}"
    );
    payer
        .connect_payout_account(rpc, seller, usd(earnings), within)
        .await;
    let withdrawal: payments::Withdrawal = rpc
        .call(
            WITHDRAW,
            payments::WithdrawRequest {
                amount: usd(earnings),
                request_id: format!("all-{}", order.id),
            },
            Some(seller),
        )
        .await
        .expect("withdraw the balance");
    assert_eq!(amount(&withdrawal.amount), earnings);
    wait_for_mail(mail, &parties.seller_email, "withdrawal of").await;
    let deadline = Instant::now() + within;
    loop {
        let balance = usd_balance(rpc, seller).await;
        if amount(&balance.paid_out) == earnings {
            assert_eq!(amount(&balance.available), 0, "{balance:?}");
            break;
        }
        assert!(Instant::now() < deadline, "never paid out: {balance:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ledger_balanced(rpc, parties, within).await;
}

async fn cancelled_order(
    rpc: &Rpc,
    mail: &Path,
    payer: &Payer<'_>,
    parties: &Parties,
    gig_id: &str,
    within: Duration,
) {
    let order = paid_order(rpc, payer, parties, gig_id, &[], within).await;
    let requested = act(
        rpc,
        REQUEST_CANCELLATION,
        orders::RequestCancellationRequest {
            order_id: order.id.clone(),
            reason: "Plans changed.".to_owned(),
        },
        &parties.buyer.access_token,
    )
    .await;
    assert!(requested.pending_cancellation.is_some());
    wait_for_mail(mail, &parties.seller_email, "cancellation requested").await;
    let cancelled = act(
        rpc,
        ANSWER_CANCELLATION,
        orders::AnswerCancellationRequest {
            order_id: order.id.clone(),
            accept: true,
        },
        &parties.seller.access_token,
    )
    .await;
    assert_eq!(cancelled.state(), OrderState::Cancelled);
    let total = order.price.as_ref().and_then(|price| price.total.clone());
    assert_eq!(cancelled.refunded, total);
    wait_for_mail(mail, &parties.buyer_email, "cancelled and refunded").await;
    wait_for_mail(mail, &parties.buyer_email, "refund of").await;
    assert_ledger_balanced(rpc, parties, within).await;
}

async fn disputed_order(
    rpc: &Rpc,
    mail: &Path,
    payer: &Payer<'_>,
    parties: &Parties,
    gig_id: &str,
    within: Duration,
) {
    let order = paid_order(rpc, payer, parties, gig_id, &[], within).await;
    act(
        rpc,
        SUBMIT_REQUIREMENTS,
        orders::SubmitRequirementsRequest {
            order_id: order.id.clone(),
            answers: vec![orders::RequirementAnswer {
                question_index: 0,
                text: "Pepper".to_owned(),
                ..Default::default()
            }],
        },
        &parties.buyer.access_token,
    )
    .await;
    let disputed = act(
        rpc,
        OPEN_DISPUTE,
        orders::OpenDisputeRequest {
            order_id: order.id.clone(),
            reason: "Nothing was delivered and the seller does not answer.".to_owned(),
        },
        &parties.buyer.access_token,
    )
    .await;
    assert_eq!(disputed.state(), OrderState::Disputed);
    wait_for_mail(mail, &parties.seller_email, "dispute opened").await;

    let subtotal = amount(
        &order
            .price
            .as_ref()
            .and_then(|price| price.subtotal.clone()),
    );
    let too_large = rpc
        .call::<_, orders::Order>(
            RESOLVE_DISPUTE,
            orders::ResolveDisputeRequest {
                order_id: order.id.clone(),
                resolution: orders::DisputeResolution::Split as i32,
                refund: usd(subtotal),
                note: "Half each.".to_owned(),
            },
            Some(&parties.admin),
        )
        .await
        .expect_err("a split is smaller than the order");
    assert_eq!(too_large.code(), Code::InvalidArgument, "{too_large:?}");
    let resolved = act(
        rpc,
        RESOLVE_DISPUTE,
        orders::ResolveDisputeRequest {
            order_id: order.id.clone(),
            resolution: orders::DisputeResolution::Split as i32,
            refund: usd(subtotal / 2),
            note: "Half the work was done: half back.".to_owned(),
        },
        &parties.admin,
    )
    .await;
    assert_eq!(amount(&resolved.refunded), subtotal / 2);
    wait_for_mail(mail, &parties.buyer_email, "dispute resolved").await;
    wait_for_mail(mail, &parties.seller_email, "dispute resolved").await;
    assert_ledger_balanced(rpc, parties, within).await;
}
