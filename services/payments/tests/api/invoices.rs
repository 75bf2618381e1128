//! Invoices: issued when an order is paid, numbered gap-free per year, with both parties'
//! names and emails (from auth's and users' events), the lines and the totals; the PDF
//! carries the same text.

use gigmesh_proto::auth::UserRegistered;
use gigmesh_proto::payments::{DownloadInvoicePdfRequest, GetInvoiceRequest, Invoice};
use gigmesh_proto::users::{ProfileChanged, PublicProfile};
use gigmesh_testing::{Backend, TestUser, publish_event, signed_in};
use tonic::Status;

use crate::support::{TestPayments, amount, service_fee};

gigmesh_testing::on_sqlite_and_postgres!(
    invoices_are_numbered_without_gaps_and_their_pdf_reads_back,
);

async fn register(
    payments: &mut TestPayments,
    user: &TestUser,
    username: &str,
    display_name: &str,
) {
    publish_event(
        &payments.bus,
        &user.user_id,
        &UserRegistered {
            user_id: user.user_id.clone(),
            email: format!("{username}@example.com"),
            username: username.to_owned(),
            create_time: None,
        },
    )
    .await;
    publish_event(
        &payments.bus,
        &user.user_id,
        &ProfileChanged {
            profile: Some(PublicProfile {
                user_id: user.user_id.clone(),
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                ..PublicProfile::default()
            }),
            suspended: false,
        },
    )
    .await;
    payments.consume().await;
}

pub async fn invoice(
    payments: &mut TestPayments,
    user: &TestUser,
    order_id: &str,
) -> Result<Invoice, Status> {
    payments
        .client
        .get_invoice(signed_in(
            &user.token,
            GetInvoiceRequest {
                order_id: order_id.to_owned(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn invoices_are_numbered_without_gaps_and_their_pdf_reads_back(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    register(&mut payments, &buyer, "ada", "Ada Lovelace").await;
    register(&mut payments, &seller, "grace", "Grace Hopper").await;
    let year = time_year(payments.clock.now_millis());

    let mut numbers = Vec::new();
    let mut orders = Vec::new();
    for subtotal in [10_000, 2_500, 7_000] {
        let mut order = payments.place_order(&buyer, &seller, subtotal).await;
        payments.pay(&buyer, &mut order).await;
        let invoice = invoice(&mut payments, &buyer, &order.order.id)
            .await
            .expect("invoice");
        numbers.push(invoice.number.clone());
        orders.push((order, subtotal));
    }
    assert_eq!(
        numbers,
        [1, 2, 3].map(|number| format!("GM-{year}-{number:06}"))
    );

    let (order, subtotal) = &orders[1];
    let fee = service_fee(*subtotal);
    let seen = invoice(&mut payments, &seller, &order.order.id)
        .await
        .expect("seller sees it");
    let invoice_number = seen.number.clone();
    let buyer_party = seen.buyer.clone().expect("buyer");
    assert_eq!(buyer_party.name, "Ada Lovelace");
    assert_eq!(buyer_party.email, "ada@example.com");
    assert_eq!(seen.seller.clone().expect("seller").name, "Grace Hopper");
    assert_eq!(amount(&seen.subtotal), *subtotal);
    assert_eq!(amount(&seen.service_fee), fee);
    assert_eq!(amount(&seen.total), subtotal + fee);
    let descriptions: Vec<&str> = seen
        .lines
        .iter()
        .map(|line| line.description.as_str())
        .collect();
    assert_eq!(descriptions, ["Standard", "Fast delivery", "Service fee"]);
    assert_eq!(
        seen.lines
            .iter()
            .map(|line| amount(&line.amount))
            .sum::<i64>(),
        subtotal + fee
    );

    let pdf = payments
        .client
        .download_invoice_pdf(signed_in(
            &buyer.token,
            DownloadInvoicePdfRequest {
                order_id: order.order.id.clone(),
            },
        ))
        .await
        .expect("pdf")
        .into_inner();
    assert_eq!(pdf.file_name, format!("{}.pdf", invoice_number));
    assert!(pdf.pdf.starts_with(b"%PDF-"));
    let document = lopdf::Document::load_mem(&pdf.pdf).expect("a PDF");
    let text = document.extract_text(&[1]).expect("text");
    for expected in [
        invoice_number.as_str(),
        "Ada Lovelace",
        "ada@example.com",
        "Grace Hopper",
        "grace@example.com",
        "Fast delivery",
        &format!(
            "Total paid: {}.{:02} USD",
            (subtotal + fee) / 100,
            (subtotal + fee) % 100
        ),
        &format!("Service fee: {}.{:02} USD", fee / 100, fee % 100),
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }

    // Nobody else sees it; admins do.
    let stranger = payments.buyer();
    let status = invoice_status(&mut payments, &stranger, &order.order.id).await;
    assert_eq!(status, tonic::Code::NotFound);
    let admin = payments.admin();
    assert!(
        invoice(&mut payments, &admin, &order.order.id)
            .await
            .is_ok()
    );
    payments.money_loop_step().await;
    let total: i64 = orders
        .iter()
        .map(|(_, subtotal)| subtotal + service_fee(*subtotal))
        .sum();
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;
}

async fn invoice_status(
    payments: &mut TestPayments,
    user: &TestUser,
    order_id: &str,
) -> tonic::Code {
    invoice(payments, user, order_id)
        .await
        .expect_err("hidden")
        .code()
}

fn time_year(millis: i64) -> i32 {
    // Days since the epoch to a civil year (proleptic Gregorian), enough for a label.
    let days = millis.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    i32::try_from(yoe + era * 400 + i64::from(month <= 2)).expect("a year")
}
