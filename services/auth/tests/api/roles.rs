//! Roles: the seller role from `SellerActivated`, and seeded accounts.

use gigmesh_auth::Role as AuthRole;
use gigmesh_events::PollOutcome;
use gigmesh_proto::auth::{
    EmailVerificationRequested, GetMyAccountRequest, RefreshTokenRequest, Role, RolesChanged,
    UserRegistered,
};
use gigmesh_proto::users::SellerActivated;
use gigmesh_testing::{Backend, signed_in};

use crate::support::{TestAuth, roles_of};

gigmesh_testing::on_sqlite_and_postgres!(
    seller_activated_grants_the_seller_role_at_the_next_refresh,
    seeding_is_idempotent,
);

async fn seller_activated_grants_the_seller_role_at_the_next_refresh(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    let account = auth
        .sign_up_verified("ada@example.com", "ada", "analytical-engine")
        .await;
    let tokens = auth.log_in("ada", "analytical-engine").await;
    assert_eq!(auth.claims(&tokens.access_token).await.roles, ["buyer"]);

    let event = SellerActivated {
        user_id: account.id.clone(),
    };
    let (envelope, outcome) = auth.deliver_users_event(&account.id, &event).await;
    assert!(
        matches!(outcome, PollOutcome::Handled { .. }),
        "{outcome:?}"
    );
    let changed = auth.events_of::<RolesChanged>().await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].user_id, account.id);
    assert_eq!(changed[0].roles, [Role::Buyer as i32, Role::Seller as i32]);

    // Redelivery is skipped; a second activation changes nothing.
    let outcome = auth.redeliver(&envelope).await;
    assert!(
        matches!(outcome, PollOutcome::Duplicate { .. }),
        "{outcome:?}"
    );
    let (_, outcome) = auth.deliver_users_event(&account.id, &event).await;
    assert!(
        matches!(outcome, PollOutcome::Handled { .. }),
        "{outcome:?}"
    );
    assert_eq!(auth.events_of::<RolesChanged>().await.len(), 1);
    let unknown_user = SellerActivated {
        user_id: uuid::Uuid::now_v7().to_string(),
    };
    let (_, outcome) = auth
        .deliver_users_event(&unknown_user.user_id.clone(), &unknown_user)
        .await;
    assert!(
        matches!(outcome, PollOutcome::Handled { .. }),
        "{outcome:?}"
    );

    // The access token in hand keeps its roles until it is refreshed.
    assert_eq!(auth.claims(&tokens.access_token).await.roles, ["buyer"]);
    let refreshed = auth
        .client
        .refresh_token(RefreshTokenRequest {
            refresh_token: tokens.refresh_token,
        })
        .await
        .expect("refresh")
        .into_inner()
        .tokens
        .expect("tokens");
    let claims = auth.claims(&refreshed.access_token).await;
    assert_eq!(claims.roles, ["buyer", "seller"]);
    assert!(claims.has_role(AuthRole::Seller));
    let mine = auth
        .client
        .get_my_account(signed_in(&refreshed.access_token, GetMyAccountRequest {}))
        .await
        .expect("my account")
        .into_inner();
    assert_eq!(roles_of(&mine), [Role::Buyer, Role::Seller]);
}

async fn seeding_is_idempotent(backend: Backend) {
    let mut auth = TestAuth::start(backend).await;
    for _ in 0..2 {
        auth.app
            .seed_account(
                "seller@gigmesh.test",
                "demo_seller",
                "seller-password-1",
                &[AuthRole::Seller],
                true,
            )
            .await
            .expect("seed");
    }
    let registered = auth.events_of::<UserRegistered>().await;
    assert_eq!(registered.len(), 1);
    assert!(
        auth.events_of::<EmailVerificationRequested>()
            .await
            .is_empty()
    );
    let response = auth
        .try_log_in("demo_seller", "seller-password-1")
        .await
        .expect("a seeded, verified account logs in");
    let account = response.account.expect("an account");
    assert!(account.email_verified);
    assert_eq!(roles_of(&account), [Role::Buyer, Role::Seller]);
    assert!(
        auth.app
            .seed_account("x@gigmesh.test", "x", "short", &[], true)
            .await
            .is_err(),
        "invalid seed data is an error"
    );
}
