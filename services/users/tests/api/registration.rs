//! Profiles created from auth's `UserRegistered` events: once per account, however often the
//! event arrives, and what happens before it arrives or when it cannot be read.

use gigmesh_auth::Role;
use gigmesh_events::PollOutcome;
use gigmesh_proto::auth::UserRegistered;
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::{Profile, ProfileChanged};
use gigmesh_testing::Backend;
use tonic::Code;
use uuid::Uuid;

use crate::support::{Account, TestUsers, decoded, event_types};

gigmesh_testing::on_sqlite_and_postgres!(
    a_registered_user_gets_a_profile_named_after_the_username,
    the_same_registration_delivered_twice_creates_one_profile,
    my_profile_before_the_registration_arrives_is_being_created,
    malformed_auth_events_are_dead_lettered,
);

async fn a_registered_user_gets_a_profile_named_after_the_username(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;

    let profile = users.my_profile(&ada).await.expect("profile");
    assert_eq!(profile.user_id, ada.user_id);
    assert_eq!(profile.username, "ada");
    assert_eq!(profile.display_name, "ada");
    assert!(!profile.is_seller);
    assert!(!profile.suspended);
    assert!(profile.create_time.is_some());

    let emitted = users.emitted_events().await;
    assert_eq!(event_types(&emitted), ["gigmesh.users.v1.ProfileChanged"]);
    assert_eq!(emitted[0].aggregate_id, ada.user_id);
    let changed = decoded::<ProfileChanged>(&emitted[0]);
    let public = changed.profile.expect("public profile");
    assert_eq!(public.username, "ada");
    assert_eq!(public.display_name, "ada");
    assert!(!changed.suspended);
}

async fn the_same_registration_delivered_twice_creates_one_profile(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let user_id = Uuid::now_v7().to_string();
    let event = UserRegistered {
        user_id: user_id.clone(),
        email: "bob@example.com".to_owned(),
        username: "bob".to_owned(),
        create_time: None,
    };
    let envelope = users.publish_auth_event(&user_id, &event).await;
    users.publish_envelope(&envelope).await;
    let outcomes = users.consume_auth_events().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );

    // The same registration replayed under a new event id changes nothing either.
    users.publish_auth_event(&user_id, &event).await;
    let outcomes = users.consume_auth_events().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );

    let emitted = users.emitted_events().await;
    assert_eq!(event_types(&emitted), ["gigmesh.users.v1.ProfileChanged"]);
    let public = users
        .public_profile(PublicProfileKey::Username("bob".to_owned()))
        .await
        .expect("public profile");
    assert_eq!(public.user_id, user_id);
}

async fn my_profile_before_the_registration_arrives_is_being_created(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let signed_in = users.deps.token_for(&[Role::Buyer]);
    let early = Account {
        token: signed_in.token,
        user_id: signed_in.user_id,
        username: "early".to_owned(),
    };
    let status = users.my_profile(&early).await.expect_err("not yet");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("being created"), "{status:?}");

    let status = users
        .update_profile(&early, Profile::default(), &["bio"])
        .await
        .expect_err("not yet");
    assert_eq!(status.code(), Code::NotFound);
}

async fn malformed_auth_events_are_dead_lettered(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let event = UserRegistered {
        user_id: "not-a-uuid".to_owned(),
        email: "x@example.com".to_owned(),
        username: "x".to_owned(),
        create_time: None,
    };
    users.publish_auth_event("not-a-uuid", &event).await;
    let outcomes = users.consume_auth_events().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::DeadLettered { .. }]),
        "{outcomes:?}"
    );
    // The consumer moved on: the next registration is applied.
    users.register("after").await;
}
