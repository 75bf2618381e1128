//! `gigmesh.users.v1.UserService` through gRPC on a random port, on SQLite and PostgreSQL.
//! Profiles come to life the way they do in production: auth's events are published to an
//! embedded bus and the service's consumer is stepped with `poll_once`; what the service
//! emits is read back from the bus after stepping its outbox relay.

use std::time::Duration;

use gigmesh_auth::{ACCESS_TOKEN_LIFETIME, Claims, Role, SigningKey, TokenSigner, TokenVerifier};
use gigmesh_events::{Consumer, Envelope, PollOutcome, SharedBus, Subscription, decode};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::TOPIC as AUTH_TOPIC;
use gigmesh_proto::auth::{AccountSuspended, AccountUnsuspended, UserRegistered};
use gigmesh_proto::users::TOPIC as USERS_TOPIC;
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::user_service_client::UserServiceClient;
use gigmesh_proto::users::{
    BecomeSellerRequest, Certification, Education, GetMyProfileRequest, GetPublicProfileRequest,
    Language, PortfolioItem, Proficiency, Profile, ProfileChanged, SellerActivated, SellerProfile,
    UpdateMyProfileRequest, UpdateMySellerProfileRequest,
};
use gigmesh_runtime::{Service as _, ServiceDeps};
use gigmesh_testing::{Backend, TestBus, TestDatabase, TestServer, signed_in, violated_fields};
use gigmesh_types::{now_millis, timestamp_from_millis};
use gigmesh_users::{App, Config};
use prost::Message as _;
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

/// How long one consumer or subscription step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// A running user service with its database, bus and a client.
struct TestUsers {
    client: UserServiceClient<Channel>,
    consumer: Consumer,
    app: App,
    bus: SharedBus,
    observer: Box<dyn Subscription>,
    signer: TokenSigner,
    _server: TestServer,
    _database: TestDatabase,
    _bus: TestBus,
}

/// A registered account as a test knows it.
struct Account {
    user_id: String,
    username: String,
    token: String,
}

impl TestUsers {
    async fn start(backend: Backend) -> TestUsers {
        let database = TestDatabase::new(backend).await;
        let test_bus = TestBus::embedded().await;
        let bus = test_bus.bus();
        bus.ensure_topics(&[AUTH_TOPIC, USERS_TOPIC])
            .await
            .expect("create topics");
        let signing_key = SigningKey::generate();
        let signer = TokenSigner::new(&signing_key).expect("signer");
        let verifier = TokenVerifier::from_jwks([signing_key.public_jwk()]);
        let deps = ServiceDeps::new(database.db().clone(), bus.clone(), verifier);
        let app = App::build(deps, Config::default())
            .await
            .expect("build the user service");
        let consumer = app.auth_events_consumer().await.expect("consumer");
        let observer = bus
            .subscribe("test-observer", &[USERS_TOPIC])
            .await
            .expect("observe the users topic");

        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = UserServiceClient::new(server.channel().await);
        TestUsers {
            client,
            consumer,
            app,
            bus,
            observer,
            signer,
            _server: server,
            _database: database,
            _bus: test_bus,
        }
    }

    /// Publishes an auth event as auth's relay would: an envelope on `gigmesh.auth.v1`
    /// keyed by the account id.
    async fn publish_auth_event<E: EventMessage>(&self, user_id: &str, event: &E) -> Envelope {
        gigmesh_testing::publish_event(&self.bus, user_id, event).await
    }

    async fn publish_envelope(&self, envelope: &Envelope) {
        gigmesh_testing::publish_envelope(&self.bus, AUTH_TOPIC, envelope).await;
    }

    /// Steps the consumer until no record is left; returns what each step did.
    async fn consume_auth_events(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// Publishes the outbox and returns every envelope that reached `gigmesh.users.v1` since
    /// the last call.
    async fn emitted_events(&mut self) -> Vec<Envelope> {
        let relay = self.app.relay();
        while relay.run_once().await.expect("relay") > 0 {}
        let mut envelopes = Vec::new();
        while let Some(record) = self.observer.next(STEP_WAIT).await.expect("read") {
            self.observer.commit(&record).await.expect("commit");
            envelopes.push(Envelope::decode(record.payload.as_slice()).expect("envelope"));
        }
        envelopes
    }

    /// Registers an account through auth's event and returns it with a buyer token.
    async fn register(&mut self, username: &str) -> Account {
        let user_id = Uuid::now_v7().to_string();
        let event = UserRegistered {
            user_id: user_id.clone(),
            email: format!("{username}@example.com"),
            username: username.to_owned(),
            create_time: Some(timestamp_from_millis(now_millis())),
        };
        self.publish_auth_event(&user_id, &event).await;
        let outcomes = self.consume_auth_events().await;
        assert!(
            matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
            "{outcomes:?}"
        );
        let token = self.token(&user_id, &[Role::Buyer]);
        Account {
            user_id,
            username: username.to_owned(),
            token,
        }
    }

    fn token(&self, user_id: &str, roles: &[Role]) -> String {
        let claims = Claims::new(
            user_id,
            Uuid::now_v7().to_string(),
            roles,
            ACCESS_TOKEN_LIFETIME,
        );
        self.signer.sign(&claims).expect("sign")
    }

    async fn my_profile(&mut self, account: &Account) -> Result<Profile, Status> {
        self.client
            .get_my_profile(signed_in(&account.token, GetMyProfileRequest {}))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn update_profile(
        &mut self,
        account: &Account,
        profile: Profile,
        paths: &[&str],
    ) -> Result<Profile, Status> {
        let request = UpdateMyProfileRequest {
            profile: Some(profile),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            }),
        };
        self.client
            .update_my_profile(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn become_seller(
        &mut self,
        account: &Account,
        seller: SellerProfile,
    ) -> Result<Profile, Status> {
        self.client
            .become_seller(signed_in(
                &account.token,
                BecomeSellerRequest {
                    seller: Some(seller),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn public_profile(
        &mut self,
        key: PublicProfileKey,
    ) -> Result<gigmesh_proto::users::PublicProfile, Status> {
        self.client
            .get_public_profile(GetPublicProfileRequest { user: Some(key) })
            .await
            .map(tonic::Response::into_inner)
    }
}

/// The event in `envelope`, which must be of type `E`.
fn decoded<E: EventMessage>(envelope: &Envelope) -> E {
    decode::<E>(envelope)
        .unwrap_or_else(|| panic!("expected {}, got {}", E::EVENT_TYPE, envelope.event_type))
        .expect("decodable event")
}

fn event_types(envelopes: &[Envelope]) -> Vec<&str> {
    envelopes
        .iter()
        .map(|envelope| envelope.event_type.as_str())
        .collect()
}

fn valid_seller() -> SellerProfile {
    SellerProfile {
        description: "I build fast, well-tested Rust backends.".to_owned(),
        skills: vec!["Rust".to_owned(), "PostgreSQL".to_owned()],
        portfolio: vec![PortfolioItem {
            title: "Payments service".to_owned(),
            description: "Double-entry ledger with escrow.".to_owned(),
            url: "https://example.com/work/payments".to_owned(),
            image_url: "https://cdn.example.com/payments.png".to_owned(),
        }],
        education: vec![Education {
            institution: "TU Berlin".to_owned(),
            degree: "MSc".to_owned(),
            field: "Computer Science".to_owned(),
            year: 2015,
        }],
        certifications: vec![Certification {
            name: "CKA".to_owned(),
            issuer: "CNCF".to_owned(),
            year: 2021,
        }],
        seller_since_time: None,
    }
}

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
    let user_id = Uuid::now_v7().to_string();
    let early = Account {
        token: users.token(&user_id, &[Role::Buyer]),
        user_id,
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

async fn update_changes_exactly_the_masked_fields(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    users.emitted_events().await;

    let new_values = Profile {
        display_name: "Ada Lovelace".to_owned(),
        bio: "Analyst of engines.".to_owned(),
        country: "gb".to_owned(),
        languages: vec![
            Language {
                code: "EN".to_owned(),
                proficiency: Proficiency::Native as i32,
            },
            Language {
                code: "fr".to_owned(),
                proficiency: Proficiency::Conversational as i32,
            },
        ],
        avatar_url: "https://cdn.example.com/ada.png".to_owned(),
        ..Profile::default()
    };
    let updated = users
        .update_profile(&ada, new_values.clone(), &["display_name", "country"])
        .await
        .expect("update");
    assert_eq!(updated.display_name, "Ada Lovelace");
    assert_eq!(updated.country, "GB");
    assert_eq!(updated.bio, "");
    assert!(updated.languages.is_empty());
    assert_eq!(updated.avatar_url, "");

    // An empty mask updates every updatable field.
    let updated = users
        .update_profile(&ada, new_values, &[])
        .await
        .expect("update all");
    assert_eq!(updated.bio, "Analyst of engines.");
    assert_eq!(updated.languages.len(), 2);
    assert_eq!(updated.languages[0].code, "en");
    assert_eq!(updated.avatar_url, "https://cdn.example.com/ada.png");
    let seconds =
        |timestamp: &Option<prost_types::Timestamp>| timestamp.as_ref().map(|t| t.seconds);
    assert!(seconds(&updated.update_time) >= seconds(&updated.create_time));
    assert_eq!(users.my_profile(&ada).await.expect("reload"), updated);

    // Clearing optional fields.
    let cleared = users
        .update_profile(
            &ada,
            Profile::default(),
            &["country", "avatar_url", "languages"],
        )
        .await
        .expect("clear");
    assert_eq!(cleared.country, "");
    assert_eq!(cleared.avatar_url, "");
    assert!(cleared.languages.is_empty());
    assert_eq!(cleared.display_name, "Ada Lovelace");

    // An update that changes nothing emits nothing.
    users
        .update_profile(&ada, Profile::default(), &["country"])
        .await
        .expect("no-op");

    let emitted = users.emitted_events().await;
    assert_eq!(
        event_types(&emitted),
        ["gigmesh.users.v1.ProfileChanged"; 3]
    );
    let last = decoded::<ProfileChanged>(&emitted[2]);
    assert_eq!(last.profile.expect("profile").display_name, "Ada Lovelace");
}

async fn invalid_profile_updates_name_every_bad_field(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    users.emitted_events().await;

    let status = users
        .update_profile(
            &ada,
            Profile {
                display_name: "x".repeat(51),
                bio: "b".repeat(601),
                country: "XX".to_owned(),
                languages: vec![
                    Language {
                        code: "xx".to_owned(),
                        proficiency: Proficiency::Fluent as i32,
                    },
                    Language {
                        code: "de".to_owned(),
                        proficiency: Proficiency::Unspecified as i32,
                    },
                ],
                avatar_url: "http://cdn.example.com/ada.png".to_owned(),
                ..Profile::default()
            },
            &[],
        )
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        [
            "profile.display_name",
            "profile.bio",
            "profile.country",
            "profile.languages[0].code",
            "profile.languages[1].proficiency",
            "profile.avatar_url",
        ]
    );

    let cases: Vec<(Profile, &str, &str)> = vec![
        (Profile::default(), "display_name", "profile.display_name"),
        (
            Profile {
                display_name: "two\nlines".to_owned(),
                ..Profile::default()
            },
            "display_name",
            "profile.display_name",
        ),
        (
            Profile {
                country: "DEU".to_owned(),
                ..Profile::default()
            },
            "country",
            "profile.country",
        ),
        (
            Profile {
                languages: [
                    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "fi", "pl",
                ]
                .into_iter()
                .map(|code| Language {
                    code: code.to_owned(),
                    proficiency: Proficiency::Basic as i32,
                })
                .collect(),
                ..Profile::default()
            },
            "languages",
            "profile.languages",
        ),
        (
            Profile {
                languages: vec![
                    Language {
                        code: "en".to_owned(),
                        proficiency: Proficiency::Basic as i32,
                    },
                    Language {
                        code: "EN".to_owned(),
                        proficiency: Proficiency::Fluent as i32,
                    },
                ],
                ..Profile::default()
            },
            "languages",
            "profile.languages",
        ),
        (
            Profile {
                avatar_url: format!("https://cdn.example.com/{}", "a".repeat(2048)),
                ..Profile::default()
            },
            "avatar_url",
            "profile.avatar_url",
        ),
        (
            Profile {
                avatar_url: "javascript:alert(1)".to_owned(),
                ..Profile::default()
            },
            "avatar_url",
            "profile.avatar_url",
        ),
    ];
    for (profile, path, field) in cases {
        let status = users
            .update_profile(&ada, profile, &[path])
            .await
            .expect_err(field);
        assert_eq!(violated_fields(&status), [field]);
    }

    let status = users
        .update_profile(
            &ada,
            Profile::default(),
            &["bio", "user_id", "is_seller", "nickname"],
        )
        .await
        .expect_err("unknown paths");
    assert_eq!(violated_fields(&status), ["update_mask"]);
    for path in ["user_id", "is_seller", "nickname"] {
        assert!(status.message().contains(path), "{status:?}");
    }

    let status = users
        .client
        .update_my_profile(signed_in(&ada.token, UpdateMyProfileRequest::default()))
        .await
        .expect_err("no profile");
    assert_eq!(violated_fields(&status), ["profile"]);

    // Nothing was changed by any of these calls.
    let profile = users.my_profile(&ada).await.expect("profile");
    assert_eq!(profile.display_name, "ada");
    assert!(users.emitted_events().await.is_empty());
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

gigmesh_testing::on_sqlite_and_postgres!(
    a_registered_user_gets_a_profile_named_after_the_username,
    the_same_registration_delivered_twice_creates_one_profile,
    my_profile_before_the_registration_arrives_is_being_created,
    every_own_profile_call_needs_a_valid_token,
    update_changes_exactly_the_masked_fields,
    invalid_profile_updates_name_every_bad_field,
    nobody_changes_someone_elses_profile,
    becoming_a_seller_emits_seller_activated_once,
    invalid_seller_profiles_name_every_bad_field,
    only_sellers_update_the_seller_profile,
    public_profiles_are_found_by_id_or_username,
    a_suspended_profile_is_hidden_and_frozen,
    malformed_auth_events_are_dead_lettered,
);
