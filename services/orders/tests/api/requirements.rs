//! The buyer's answers to the gig's requirement questions: checked against the questions
//! copied into the order, and the order starts once they are in.

use gigmesh_proto::gigs::{Requirement, RequirementKind};
use gigmesh_proto::orders::{OrderState, RequirementAnswer, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;

use crate::support::{DAY, TestOrders, kinds, state, text_question};

gigmesh_testing::on_sqlite_and_postgres!(
    answers_are_checked_against_the_questions,
    submitting_the_answers_starts_the_order,
);

fn questions() -> Vec<Requirement> {
    vec![
        text_question("What is your brand?"),
        Requirement {
            question: "Which style?".to_owned(),
            kind: RequirementKind::MultipleChoice as i32,
            options: vec!["Flat".to_owned(), "Retro".to_owned()],
            required: true,
        },
        Requirement {
            question: "Your current logo".to_owned(),
            kind: RequirementKind::Attachment as i32,
            options: Vec::new(),
            required: false,
        },
    ]
}

fn answer(
    question_index: i32,
    text: &str,
    choice: &str,
    attachment_url: &str,
) -> RequirementAnswer {
    RequirementAnswer {
        question_index,
        text: text.to_owned(),
        choice: choice.to_owned(),
        attachment_url: attachment_url.to_owned(),
    }
}

async fn answers_are_checked_against_the_questions(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, questions()).await;
    let order = orders.place_basic(&buyer, &gig).await;

    // Not paid yet.
    let status = orders
        .submit(
            &buyer,
            &order.id,
            vec![answer(0, "Acme", "", ""), answer(1, "", "Flat", "")],
        )
        .await
        .expect_err("unpaid");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "cannot submit the requirements of an order in state awaiting_payment"
    );
    orders.pay_in_full(&order).await;

    let status = orders
        .submit(
            &buyer,
            &order.id,
            vec![
                answer(1, "", "Baroque", ""),
                answer(1, "", "Flat", ""),
                answer(2, "", "", "http://insecure.example.com/logo.png"),
            ],
        )
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        [
            "answers[0].choice",
            "answers[1].question_index",
            "answers[2].attachment_url",
            "answers"
        ]
    );
    let status = orders
        .submit(
            &buyer,
            &order.id,
            vec![
                answer(0, &"a".repeat(2_001), "", ""),
                answer(5, "", "Flat", ""),
            ],
        )
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        ["answers[0].text", "answers[1].question_index", "answers"]
    );
    let status = orders
        .submit(
            &seller,
            &order.id,
            vec![answer(0, "Acme", "", ""), answer(1, "", "Flat", "")],
        )
        .await
        .expect_err("seller");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "only the order's buyer may submit its requirements"
    );
}

async fn submitting_the_answers_starts_the_order(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, questions()).await;
    let order = orders.place_basic(&buyer, &gig).await;
    orders.pay_in_full(&order).await;
    orders.clock.advance_seconds(3_600);
    orders.emitted().await;
    let started = orders
        .submit(
            &buyer,
            &order.id,
            vec![
                answer(1, "", " Retro ", ""),
                answer(0, "Acme Rockets", "", ""),
                answer(2, "", "", "https://cdn.example.com/logo.png"),
            ],
        )
        .await
        .expect("submit");
    assert_eq!(state(&started), OrderState::InProgress);
    assert_eq!(started.answers.len(), 3);
    assert_eq!(started.answers[0].text, "Acme Rockets");
    assert_eq!(started.answers[1].choice, "Retro");
    assert_eq!(
        started.answers[2].attachment_url,
        "https://cdn.example.com/logo.png"
    );
    let start = started.start_time.expect("start");
    assert_eq!(start.seconds, orders.clock.now_millis().div_euclid(1000));
    assert_eq!(
        started.due_time.expect("due").seconds - start.seconds,
        3 * DAY
    );
    assert_eq!(
        kinds(&orders.emitted().await),
        [TimelineKind::RequirementsSubmitted, TimelineKind::Started]
    );
    let status = orders
        .submit(
            &buyer,
            &order.id,
            vec![answer(0, "Again", "", ""), answer(1, "", "Flat", "")],
        )
        .await
        .expect_err("twice");
    assert_eq!(status.code(), Code::FailedPrecondition);
}
