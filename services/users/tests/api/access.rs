//! Who may call: every own-profile call needs a token the service trusts, and the token, never
//! the body, says whose profile changes.

use gigmesh_auth::{ACCESS_TOKEN_LIFETIME, Claims, Role, SigningKey, TokenSigner};
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::{
    BecomeSellerRequest, GetMyProfileRequest, Profile, UpdateMyProfileRequest,
    UpdateMySellerProfileRequest,
};
use gigmesh_testing::{Backend, signed_in};
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestUsers, valid_seller};

gigmesh_testing::on_sqlite_and_postgres!(
    every_own_profile_call_needs_a_valid_token,
    nobody_changes_someone_elses_profile,
);

async fn every_own_profile_call_needs_a_valid_token(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;

    let status = users
        .client
        .get_my_profile(GetMyProfileRequest {})
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = users
        .client
        .update_my_profile(UpdateMyProfileRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = users
        .client
        .become_seller(BecomeSellerRequest {
            seller: Some(valid_seller()),
        })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = users
        .client
        .update_my_seller_profile(UpdateMySellerProfileRequest {
            seller: Some(valid_seller()),
        })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);

    // A token signed by a key auth never published is refused too.
    let foreign_signer = TokenSigner::new(&SigningKey::generate()).expect("signer");
    let claims = Claims::new(
        ada.user_id.clone(),
        Uuid::now_v7().to_string(),
        &[Role::Buyer],
        ACCESS_TOKEN_LIFETIME,
    );
    let forged = foreign_signer.sign(&claims).expect("sign");
    let status = users
        .client
        .get_my_profile(signed_in(&forged, GetMyProfileRequest {}))
        .await
        .expect_err("forged token");
    assert_eq!(status.code(), Code::Unauthenticated);

    let status = users
        .client
        .get_my_profile(signed_in("not-a-jwt", GetMyProfileRequest {}))
        .await
        .expect_err("garbage token");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn nobody_changes_someone_elses_profile(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    let mallory = users.register("mallory").await;

    // The user id in the body is ignored: the token says whose profile changes.
    let updated = users
        .update_profile(
            &mallory,
            Profile {
                user_id: ada.user_id.clone(),
                username: "ada".to_owned(),
                display_name: "Ada (hacked)".to_owned(),
                ..Profile::default()
            },
            &["display_name"],
        )
        .await
        .expect("updates mallory's own profile");
    assert_eq!(updated.user_id, mallory.user_id);
    assert_eq!(updated.username, "mallory");

    let ada_profile = users.my_profile(&ada).await.expect("ada");
    assert_eq!(ada_profile.display_name, "ada");
    let public = users
        .public_profile(PublicProfileKey::UserId(ada.user_id.clone()))
        .await
        .expect("public");
    assert_eq!(public.display_name, "ada");
}
