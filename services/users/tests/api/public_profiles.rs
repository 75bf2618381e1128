//! GetPublicProfile: by user id or by username in any letter case.

use gigmesh_proto::users::GetPublicProfileRequest;
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::TestUsers;

gigmesh_testing::on_sqlite_and_postgres!(
    public_profiles_are_found_by_id_or_username,
    a_huge_unknown_username_is_not_echoed_back_in_full,
);

async fn public_profiles_are_found_by_id_or_username(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;

    let by_id = users
        .public_profile(PublicProfileKey::UserId(ada.user_id.clone()))
        .await
        .expect("by id");
    let by_username = users
        .public_profile(PublicProfileKey::Username(ada.username.clone()))
        .await
        .expect("by username");
    assert_eq!(by_id, by_username);
    // Usernames are unique ignoring case, so any spelling finds the profile, which shows
    // the username as its owner spelled it.
    let spelled = users.register("GraceH").await;
    let found = users
        .public_profile(PublicProfileKey::Username("graceh".to_owned()))
        .await
        .expect("by username in another case");
    assert_eq!(found.user_id, spelled.user_id);
    assert_eq!(found.username, "GraceH");
    assert_eq!(by_id.username, "ada");
    assert!(by_id.create_time.is_some());

    let status = users
        .client
        .get_public_profile(GetPublicProfileRequest { user: None })
        .await
        .expect_err("neither");
    assert_eq!(violated_fields(&status), ["user"]);
    let status = users
        .public_profile(PublicProfileKey::UserId("not-a-uuid".to_owned()))
        .await
        .expect_err("bad id");
    assert_eq!(violated_fields(&status), ["user_id"]);
    let status = users
        .public_profile(PublicProfileKey::Username("  ".to_owned()))
        .await
        .expect_err("blank username");
    assert_eq!(violated_fields(&status), ["username"]);

    let status = users
        .public_profile(PublicProfileKey::UserId(Uuid::now_v7().to_string()))
        .await
        .expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound);
    let status = users
        .public_profile(PublicProfileKey::Username("nobody".to_owned()))
        .await
        .expect_err("unknown username");
    assert_eq!(status.code(), Code::NotFound);
}

async fn a_huge_unknown_username_is_not_echoed_back_in_full(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let status = users
        .public_profile(PublicProfileKey::Username("n".repeat(3 * 1024 * 1024)))
        .await
        .expect_err("unknown username");
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().len() < 200,
        "{} bytes: {}…",
        status.message().len(),
        &status.message()[..100]
    );
    assert!(status.message().contains("nnnn"), "{}", status.message());
}
