//! Becoming a seller (once, with `SellerActivated`) and keeping the seller profile, with every
//! bad field named at once.

use gigmesh_auth::Role;
use gigmesh_events::PollOutcome;
use gigmesh_proto::chat::{MessageSent, SellerResponseTimeChanged};
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::{
    BecomeSellerRequest, ProfileChanged, SellerActivated, UpdateMySellerProfileRequest,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use gigmesh_types::timestamp_from_millis;
use tonic::Code;

use crate::support::{TestUsers, decoded, event_types, valid_seller};

gigmesh_testing::on_sqlite_and_postgres!(
    becoming_a_seller_emits_seller_activated_once,
    invalid_seller_profiles_name_every_bad_field,
    only_sellers_update_the_seller_profile,
    the_measured_response_time_shows_on_the_public_profile,
);

async fn becoming_a_seller_emits_seller_activated_once(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    users.emitted_events().await;

    let profile = users
        .become_seller(&ada, valid_seller())
        .await
        .expect("become seller");
    assert!(profile.is_seller);
    let seller = profile.seller.expect("seller profile");
    assert_eq!(seller.skills, ["Rust", "PostgreSQL"]);
    assert_eq!(seller.portfolio[0].url, "https://example.com/work/payments");
    assert_eq!(seller.education[0].year, 2015);
    assert!(seller.seller_since_time.is_some());

    let emitted = users.emitted_events().await;
    assert_eq!(
        event_types(&emitted),
        [
            "gigmesh.users.v1.SellerActivated",
            "gigmesh.users.v1.ProfileChanged"
        ]
    );
    let activated = decoded::<SellerActivated>(&emitted[0]);
    assert_eq!(activated.user_id, ada.user_id);
    let changed = decoded::<ProfileChanged>(&emitted[1]);
    assert!(changed.profile.expect("profile").is_seller);

    let status = users
        .become_seller(&ada, valid_seller())
        .await
        .expect_err("twice");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(users.emitted_events().await.is_empty());

    let public = users
        .public_profile(PublicProfileKey::Username("ada".to_owned()))
        .await
        .expect("public");
    assert!(public.is_seller);
    assert_eq!(
        public.seller.expect("seller").description,
        "I build fast, well-tested Rust backends."
    );
}

async fn invalid_seller_profiles_name_every_bad_field(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    let next_year = time::OffsetDateTime::now_utc().year() + 1;

    let mut seller = valid_seller();
    seller.description = "too short".to_owned();
    seller.skills = vec!["Rust".to_owned(), "rust".to_owned()];
    seller.portfolio[0].url = "http://example.com/insecure".to_owned();
    seller.portfolio[0].title = String::new();
    seller.education[0].year = 1800;
    seller.certifications[0].year = next_year;
    seller.certifications[0].issuer = String::new();
    let status = users
        .become_seller(&ada, seller)
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        [
            "seller.description",
            "seller.skills",
            "seller.portfolio[0].title",
            "seller.portfolio[0].url",
            "seller.education[0].year",
            "seller.certifications[0].issuer",
            "seller.certifications[0].year",
        ]
    );

    let mut too_many = valid_seller();
    too_many.skills = (0..16).map(|n| format!("skill {n}")).collect();
    too_many.portfolio = vec![valid_seller().portfolio[0].clone(); 21];
    too_many.education = vec![valid_seller().education[0].clone(); 11];
    too_many.certifications = vec![valid_seller().certifications[0].clone(); 11];
    let status = users
        .become_seller(&ada, too_many)
        .await
        .expect_err("too many");
    assert_eq!(
        violated_fields(&status),
        [
            "seller.skills",
            "seller.portfolio",
            "seller.education",
            "seller.certifications"
        ]
    );

    let mut long_skill = valid_seller();
    long_skill.skills = vec!["s".repeat(41)];
    long_skill.description = "d".repeat(2001);
    let status = users
        .become_seller(&ada, long_skill)
        .await
        .expect_err("too long");
    assert_eq!(
        violated_fields(&status),
        ["seller.description", "seller.skills[0]"]
    );

    let status = users
        .client
        .become_seller(signed_in(&ada.token, BecomeSellerRequest { seller: None }))
        .await
        .expect_err("missing");
    assert_eq!(violated_fields(&status), ["seller"]);

    // A graduation expected next year is plausible; a certificate from next year is not.
    let mut studying = valid_seller();
    studying.education[0].year = next_year;
    users
        .become_seller(&ada, studying)
        .await
        .expect("expected graduation is fine");
}

async fn only_sellers_update_the_seller_profile(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;

    let request = |token: &str| {
        let mut seller = valid_seller();
        seller.description = "Now also Go and Kubernetes operators.".to_owned();
        seller.skills.push("Go".to_owned());
        signed_in(
            token,
            UpdateMySellerProfileRequest {
                seller: Some(seller),
            },
        )
    };
    let status = users
        .client
        .update_my_seller_profile(request(&ada.token))
        .await
        .expect_err("not a seller");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("BecomeSeller"), "{status:?}");

    let became = users
        .become_seller(&ada, valid_seller())
        .await
        .expect("seller");
    users.emitted_events().await;
    let seller_token = users.token(&ada.user_id, &[Role::Buyer, Role::Seller]);
    let updated = users
        .client
        .update_my_seller_profile(request(&seller_token))
        .await
        .expect("update seller")
        .into_inner();
    let seller = updated.seller.expect("seller");
    assert_eq!(seller.description, "Now also Go and Kubernetes operators.");
    assert_eq!(seller.skills, ["Rust", "PostgreSQL", "Go"]);
    assert_eq!(
        seller.seller_since_time,
        became.seller.expect("seller").seller_since_time
    );

    let emitted = users.emitted_events().await;
    assert_eq!(event_types(&emitted), ["gigmesh.users.v1.ProfileChanged"]);

    let status = users
        .client
        .update_my_seller_profile(signed_in(
            &seller_token,
            UpdateMySellerProfileRequest { seller: None },
        ))
        .await
        .expect_err("missing seller");
    assert_eq!(violated_fields(&status), ["seller"]);
}

async fn the_measured_response_time_shows_on_the_public_profile(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    users
        .become_seller(&ada, valid_seller())
        .await
        .expect("become seller");
    let seller = public_seller(&mut users, &ada.user_id).await;
    assert_eq!(seller.response_time, None, "not measured yet");

    let measured = |median: i64, conversations: i32, at_millis: i64| SellerResponseTimeChanged {
        seller_id: ada.user_id.clone(),
        median_response_seconds: median,
        conversations,
        measure_time: Some(timestamp_from_millis(at_millis)),
    };
    let outcomes = users
        .publish_chat_event(&ada.user_id, &measured(1_800, 3, 2_000))
        .await;
    assert!(
        matches!(outcomes[..], [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );
    let time = public_seller(&mut users, &ada.user_id).await.response_time;
    let time = time.expect("measured");
    assert_eq!(
        (
            time.median_seconds,
            time.conversations,
            time.summary.as_str()
        ),
        (1_800, 3, "usually answers within an hour")
    );

    // An older measure arriving late changes nothing; the rest of chat's topic is skipped.
    users
        .publish_chat_event(&ada.user_id, &measured(90_000, 5, 1_000))
        .await;
    let outcomes = users
        .publish_chat_event(&ada.user_id, &MessageSent::default())
        .await;
    assert!(
        matches!(outcomes[..], [PollOutcome::Ignored { .. }]),
        "{outcomes:?}"
    );
    let time = public_seller(&mut users, &ada.user_id).await.response_time;
    assert_eq!(time.expect("measured").median_seconds, 1_800);

    users
        .publish_chat_event(&ada.user_id, &measured(7_200, 2, 3_000))
        .await;
    let time = public_seller(&mut users, &ada.user_id).await.response_time;
    assert_eq!(
        time.expect("measured").summary,
        "usually answers within a few hours"
    );
    // No buyer wrote first in the window: nothing to show.
    users
        .publish_chat_event(&ada.user_id, &measured(0, 0, 4_000))
        .await;
    let seller = public_seller(&mut users, &ada.user_id).await;
    assert_eq!(seller.response_time, None);
}

async fn public_seller(
    users: &mut TestUsers,
    user_id: &str,
) -> gigmesh_proto::users::SellerProfile {
    users
        .public_profile(PublicProfileKey::UserId(user_id.to_owned()))
        .await
        .expect("public profile")
        .seller
        .expect("seller")
}
