//! Auth's suspension events: a suspended profile is hidden from the public and frozen for its
//! owner until the suspension is lifted.

use gigmesh_events::PollOutcome;
use gigmesh_proto::auth::{AccountSuspended, AccountUnsuspended};
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::{Profile, ProfileChanged};
use gigmesh_testing::Backend;
use tonic::Code;

use crate::support::{TestUsers, decoded, event_types, valid_seller};

gigmesh_testing::on_sqlite_and_postgres!(a_suspended_profile_is_hidden_and_frozen,);

async fn a_suspended_profile_is_hidden_and_frozen(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    users.emitted_events().await;

    let suspension = AccountSuspended {
        user_id: ada.user_id.clone(),
        reason: "spam".to_owned(),
    };
    users.publish_auth_event(&ada.user_id, &suspension).await;
    let outcomes = users.consume_auth_events().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );

    for key in [
        PublicProfileKey::UserId(ada.user_id.clone()),
        PublicProfileKey::Username("ada".to_owned()),
    ] {
        let status = users.public_profile(key).await.expect_err("hidden");
        assert_eq!(status.code(), Code::NotFound);
    }
    let own = users.my_profile(&ada).await.expect("owner still sees it");
    assert!(own.suspended);
    let status = users
        .update_profile(
            &ada,
            Profile {
                bio: "still here".to_owned(),
                ..Profile::default()
            },
            &["bio"],
        )
        .await
        .expect_err("frozen");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = users
        .become_seller(&ada, valid_seller())
        .await
        .expect_err("frozen");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let emitted = users.emitted_events().await;
    assert_eq!(event_types(&emitted), ["gigmesh.users.v1.ProfileChanged"]);
    assert!(decoded::<ProfileChanged>(&emitted[0]).suspended);

    users
        .publish_auth_event(
            &ada.user_id,
            &AccountUnsuspended {
                user_id: ada.user_id.clone(),
            },
        )
        .await;
    users.consume_auth_events().await;
    let public = users
        .public_profile(PublicProfileKey::Username("ada".to_owned()))
        .await
        .expect("visible again");
    assert_eq!(public.user_id, ada.user_id);
    let emitted = users.emitted_events().await;
    assert_eq!(event_types(&emitted), ["gigmesh.users.v1.ProfileChanged"]);
    assert!(!decoded::<ProfileChanged>(&emitted[0]).suspended);
}
