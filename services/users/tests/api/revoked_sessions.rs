//! Sessions auth ended (log-out, password change, suspension): their access tokens still
//! verify, and the service refuses them as soon as it learns it — the replica whose consumer
//! applied the event at once, every other replica at its next load of the stored set.

use gigmesh_auth::Role;
use gigmesh_proto::auth::{SessionsRevoked, UserRegistered};
use gigmesh_proto::users::GetMyProfileRequest;
use gigmesh_proto::users::user_service_client::UserServiceClient;
use gigmesh_runtime::{Service as _, ServiceDeps};
use gigmesh_testing::{Backend, TestDeps, TestServer, TestUser, publish_event, signed_in};
use gigmesh_types::{now_millis, timestamp_from_millis};
use gigmesh_users::{App, Config};
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::support::STEP_WAIT;

gigmesh_testing::on_sqlite_and_postgres!(
    tokens_of_revoked_sessions_are_refused_by_every_replica,
    revocations_are_forgotten_once_their_tokens_expired,
    a_revocation_without_expiry_is_kept_and_a_broken_one_is_dead_lettered,
);

/// One replica of the service: its deps (with its own set of revoked sessions) and a client.
struct Replica {
    deps: ServiceDeps,
    app: App,
    client: UserServiceClient<Channel>,
    _server: TestServer,
}

impl Replica {
    async fn start(test: &TestDeps) -> Replica {
        let deps = test.service_deps();
        let app = App::build(deps.clone(), Config::default())
            .await
            .expect("build the user service");
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = UserServiceClient::new(server.channel().await);
        Replica {
            deps,
            app,
            client,
            _server: server,
        }
    }

    /// The code GetMyProfile answers with `token` (`Ok` when it answers).
    async fn my_profile_code(&mut self, token: &str) -> Code {
        match self
            .client
            .get_my_profile(signed_in(token, GetMyProfileRequest {}))
            .await
        {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }

    /// Steps this replica's consumer of auth's revocations until nothing is left.
    async fn learn_revocations(&self) {
        let mut consumer = self
            .deps
            .revoked_sessions_consumer("users")
            .subscribe()
            .await
            .expect("subscribe");
        consumer.drain(STEP_WAIT).await.expect("poll");
    }
}

/// A registered account with a token in one session.
async fn registered(test: &TestDeps, replica: &Replica) -> TestUser {
    let user = test.token_for(&[Role::Buyer]);
    let event = UserRegistered {
        user_id: user.user_id.clone(),
        email: "ada@example.com".into(),
        username: "ada".into(),
        create_time: Some(timestamp_from_millis(now_millis())),
    };
    publish_event(&test.bus(), &user.user_id, &event).await;
    let mut consumer = replica.app.auth_events_consumer().await.expect("consumer");
    consumer.drain(STEP_WAIT).await.expect("poll");
    user
}

/// Tokens of a revoked session stay signed this long (auth's default access-token life).
const TOKEN_LIFE_MILLIS: i64 = 900_000;

async fn revoke(test: &TestDeps, user_id: &str, sessions: &[&str], expire_time: i64) {
    let event = SessionsRevoked {
        user_id: user_id.to_owned(),
        session_ids: sessions.iter().map(|id| (*id).to_owned()).collect(),
        expire_time: Some(timestamp_from_millis(expire_time)),
    };
    publish_event(&test.bus(), user_id, &event).await;
}

/// Revokes the session of `user`'s token, as log-out does.
async fn revoke_session_of(test: &TestDeps, user: &TestUser) {
    let expire_time = now_millis() + TOKEN_LIFE_MILLIS;
    revoke(test, &user.user_id, &[&user.session_id], expire_time).await;
}

async fn tokens_of_revoked_sessions_are_refused_by_every_replica(backend: Backend) {
    let test = TestDeps::new(backend).await;
    let mut first = Replica::start(&test).await;
    let mut second = Replica::start(&test).await;
    let ada = registered(&test, &first).await;
    let other_session = Uuid::now_v7().to_string();
    let other_token = test.token_in_session(&ada.user_id, &other_session, &[Role::Buyer]);
    assert_eq!(first.my_profile_code(&ada.token).await, Code::Ok);
    assert_eq!(second.my_profile_code(&ada.token).await, Code::Ok);

    revoke_session_of(&test, &ada).await;
    first.learn_revocations().await;

    let refused = first
        .client
        .get_my_profile(signed_in(&ada.token, GetMyProfileRequest {}))
        .await
        .expect_err("the replica that applied the revocation refuses at once");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("log in again"), "{refused:?}");
    // The other replica learns it from the database at its next load.
    assert_eq!(second.deps.load_revoked_sessions().await.expect("load"), 1);
    assert_eq!(
        second.my_profile_code(&ada.token).await,
        Code::Unauthenticated
    );
    // The account's other session is untouched.
    assert_eq!(first.my_profile_code(&other_token).await, Code::Ok);
    assert_eq!(second.my_profile_code(&other_token).await, Code::Ok);

    // A replica started later loads what was stored before it existed.
    let mut third = Replica::start(&test).await;
    third.deps.load_revoked_sessions().await.expect("load");
    assert_eq!(
        third.my_profile_code(&ada.token).await,
        Code::Unauthenticated
    );
}

async fn revocations_are_forgotten_once_their_tokens_expired(backend: Backend) {
    let test = TestDeps::new(backend).await;
    let replica = Replica::start(&test).await;
    let ada = test.token_for(&[Role::Buyer]);
    revoke(
        &test,
        &ada.user_id,
        &["01900000-0000-7000-8000-000000000001"],
        now_millis() - 1,
    )
    .await;
    revoke_session_of(&test, &ada).await;
    replica.learn_revocations().await;

    assert_eq!(replica.deps.load_revoked_sessions().await.expect("load"), 1);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revoked_sessions")
        .fetch_one(test.db().pool())
        .await
        .expect("count");
    assert_eq!(stored, 1, "the expired revocation's row is deleted");
}

async fn a_revocation_without_expiry_is_kept_and_a_broken_one_is_dead_lettered(backend: Backend) {
    let test = TestDeps::new(backend).await;
    let mut replica = Replica::start(&test).await;
    let ada = registered(&test, &replica).await;
    let without_expiry = SessionsRevoked {
        user_id: ada.user_id.clone(),
        session_ids: vec![ada.session_id.clone()],
        expire_time: None,
    };
    publish_event(&test.bus(), &ada.user_id, &without_expiry).await;
    // The same type id over bytes that are no SessionsRevoked.
    let mut broken = gigmesh_events::new_envelope(&ada.user_id, &without_expiry);
    broken.payload = vec![0xff, 0xff, 0xff];
    gigmesh_testing::publish_envelope(&test.bus(), gigmesh_proto::auth::TOPIC, &broken).await;
    let mut consumer = replica
        .deps
        .revoked_sessions_consumer("users")
        .subscribe()
        .await
        .expect("subscribe");
    let outcomes = consumer.drain(STEP_WAIT).await.expect("poll");
    assert!(
        matches!(
            outcomes.as_slice(),
            // The registration first: not this consumer's, skipped as handled.
            [
                ..,
                gigmesh_events::PollOutcome::Handled { .. },
                gigmesh_events::PollOutcome::DeadLettered { .. }
            ]
        ),
        "{outcomes:?}"
    );

    // Kept (a day, longer than any token) and refused, also after a load.
    assert_eq!(replica.deps.load_revoked_sessions().await.expect("load"), 1);
    assert_eq!(
        replica.my_profile_code(&ada.token).await,
        Code::Unauthenticated
    );
}
