//! `gigmesh.gigs.v1.GigService` through gRPC on a random port, on SQLite and PostgreSQL.
//! Seller summaries and ratings arrive the way they do in production: the users and reviews
//! services' events are published to an embedded bus and the service's consumer is stepped
//! with `poll_once`; what the service emits is read back from the bus after stepping its
//! outbox relay.

use std::time::Duration;

use gigmesh_auth::{ACCESS_TOKEN_LIFETIME, Claims, Role, SigningKey, TokenSigner, TokenVerifier};
use gigmesh_events::{Consumer, Envelope, PollOutcome, SharedBus, Subscription, decode};
use gigmesh_gigs::{App, Config};
use gigmesh_proto::gigs::TOPIC as GIGS_TOPIC;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::gig_service_client::GigServiceClient;
use gigmesh_proto::gigs::{
    CreateGigRequest, DeleteGigRequest, Extra, Faq, GalleryItem, GetGigRequest, Gig, GigChange,
    GigChanged, GigState, ListCategoriesRequest, ListMyGigsRequest, ListSavedGigsRequest,
    ListSellerGigsRequest, MediaKind, ModerateGigRequest, ModerationAction, ModerationState,
    Package, PackageTier, PauseGigRequest, PublishGigRequest, Requirement, RequirementKind,
    ResumeGigRequest, SaveGigRequest, UnsaveGigRequest, UpdateGigRequest,
};
use gigmesh_proto::reviews::RatingsChanged;
use gigmesh_proto::reviews::TOPIC as REVIEWS_TOPIC;
use gigmesh_proto::types::Money;
use gigmesh_proto::users::TOPIC as USERS_TOPIC;
use gigmesh_proto::users::{Language, Proficiency, ProfileChanged, PublicProfile};
use gigmesh_runtime::{Service as _, ServiceDeps};
use gigmesh_testing::{Backend, TestBus, TestDatabase, TestServer, signed_in, violated_fields};
use prost::Message as _;
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use uuid::Uuid;

/// How long one consumer or subscription step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

/// A running gig service with its database, bus and a client.
struct TestGigs {
    client: GigServiceClient<Channel>,
    consumer: Consumer,
    app: App,
    bus: SharedBus,
    observer: Box<dyn Subscription>,
    signer: TokenSigner,
    _server: TestServer,
    _database: TestDatabase,
    _bus: TestBus,
}

/// A signed-in user as a test knows them.
#[derive(Clone)]
struct Account {
    user_id: String,
    token: String,
}

impl TestGigs {
    async fn start(backend: Backend) -> TestGigs {
        Self::start_with(backend, Config::default()).await
    }

    async fn start_with(backend: Backend, config: Config) -> TestGigs {
        let database = TestDatabase::new(backend).await;
        let test_bus = TestBus::embedded().await;
        let bus = test_bus.bus();
        let signing_key = SigningKey::generate();
        let signer = TokenSigner::new(&signing_key).expect("signer");
        let verifier = TokenVerifier::from_jwks([signing_key.public_jwk()]);
        let deps = ServiceDeps::new(database.db().clone(), bus.clone(), verifier);
        let app = App::build(deps, config)
            .await
            .expect("build the gig service");
        let consumer = app.upstream_events_consumer().await.expect("consumer");
        let observer = bus
            .subscribe("test-observer", &[GIGS_TOPIC])
            .await
            .expect("observe the gigs topic");
        let server = TestServer::start(app.routes(), app.service_names()).await;
        let client = GigServiceClient::new(server.channel().await);
        TestGigs {
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

    fn account(&self, roles: &[Role]) -> Account {
        let user_id = Uuid::now_v7().to_string();
        let claims = Claims::new(
            user_id.clone(),
            Uuid::now_v7().to_string(),
            roles,
            ACCESS_TOKEN_LIFETIME,
        );
        Account {
            token: self.signer.sign(&claims).expect("sign"),
            user_id,
        }
    }

    fn seller(&self) -> Account {
        self.account(&[Role::Buyer, Role::Seller])
    }

    fn buyer(&self) -> Account {
        self.account(&[Role::Buyer])
    }

    fn admin(&self) -> Account {
        self.account(&[Role::Buyer, Role::Admin])
    }

    /// Publishes the outbox and returns every GigChanged that reached `gigmesh.gigs.v1`
    /// since the last call, with the record key.
    async fn emitted(&mut self) -> Vec<(String, GigChanged)> {
        let relay = self.app.relay();
        while relay.run_once().await.expect("relay") > 0 {}
        let mut events = Vec::new();
        while let Some(record) = self.observer.next(STEP_WAIT).await.expect("read") {
            self.observer.commit(&record).await.expect("commit");
            let envelope = Envelope::decode(record.payload.as_slice()).expect("envelope");
            let event = decode::<GigChanged>(&envelope)
                .expect("a GigChanged event")
                .expect("decodable");
            assert_eq!(record.key, envelope.aggregate_id);
            events.push((envelope.aggregate_id, event));
        }
        events
    }

    async fn consume(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    async fn create(&mut self, account: &Account, gig: Gig) -> Result<Gig, Status> {
        self.client
            .create_gig(signed_in(
                &account.token,
                CreateGigRequest { gig: Some(gig) },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn update(&mut self, account: &Account, gig: Gig, paths: &[&str]) -> Result<Gig, Status> {
        let request = UpdateGigRequest {
            gig: Some(gig),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            }),
        };
        self.client
            .update_gig(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn publish(&mut self, account: &Account, gig_id: &str) -> Result<Gig, Status> {
        let request = PublishGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .publish_gig(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn pause(&mut self, account: &Account, gig_id: &str) -> Result<Gig, Status> {
        let request = PauseGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .pause_gig(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn resume(&mut self, account: &Account, gig_id: &str) -> Result<Gig, Status> {
        let request = ResumeGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .resume_gig(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn delete(&mut self, account: &Account, gig_id: &str) -> Result<(), Status> {
        let request = DeleteGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .delete_gig(signed_in(&account.token, request))
            .await
            .map(|_| ())
    }

    async fn moderate(
        &mut self,
        account: &Account,
        gig_id: &str,
        action: ModerationAction,
        reason: &str,
    ) -> Result<Gig, Status> {
        let request = ModerateGigRequest {
            gig_id: gig_id.to_owned(),
            action: action as i32,
            reason: reason.to_owned(),
        };
        self.client
            .moderate_gig(signed_in(&account.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn get(&mut self, viewer: Option<&Account>, key: GigKey) -> Result<Gig, Status> {
        let request = GetGigRequest { gig: Some(key) };
        let request = match viewer {
            Some(account) => signed_in(&account.token, request),
            None => Request::new(request),
        };
        self.client
            .get_gig(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// A complete gig of `seller`, published.
    async fn published_gig(&mut self, seller: &Account, title: &str) -> Gig {
        let gig = self
            .create(seller, complete_gig(title))
            .await
            .expect("create");
        self.publish(seller, &gig.id).await.expect("publish")
    }

    async fn my_gigs(
        &mut self,
        account: &Account,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Gig>, String), Status> {
        let request = ListMyGigsRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        self.client
            .list_my_gigs(signed_in(&account.token, request))
            .await
            .map(|response| {
                let response = response.into_inner();
                (response.gigs, response.next_page_token)
            })
    }

    async fn seller_gigs(
        &mut self,
        seller_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Gig>, String), Status> {
        let request = ListSellerGigsRequest {
            seller_id: seller_id.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        };
        self.client.list_seller_gigs(request).await.map(|response| {
            let response = response.into_inner();
            (response.gigs, response.next_page_token)
        })
    }

    async fn save(&mut self, account: &Account, gig_id: &str) -> Result<(), Status> {
        let request = SaveGigRequest {
            gig_id: gig_id.to_owned(),
        };
        self.client
            .save_gig(signed_in(&account.token, request))
            .await
            .map(|_| ())
    }

    async fn saved(
        &mut self,
        account: &Account,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Gig>, String), Status> {
        let request = ListSavedGigsRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        self.client
            .list_saved_gigs(signed_in(&account.token, request))
            .await
            .map(|response| {
                let response = response.into_inner();
                (response.gigs, response.next_page_token)
            })
    }
}

fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

fn package(tier: PackageTier, name: &str, amount_minor: i64) -> Package {
    Package {
        tier: tier as i32,
        name: name.to_owned(),
        description: format!("The {name} package."),
        price: usd(amount_minor),
        delivery_days: 3,
        revisions: 2,
        features: vec!["Source code".to_owned()],
    }
}

fn image(url: &str, cover: bool) -> GalleryItem {
    GalleryItem {
        kind: MediaKind::Image as i32,
        url: url.to_owned(),
        cover,
    }
}

/// A gig with everything publishing needs, and some of everything else.
fn complete_gig(title: &str) -> Gig {
    Gig {
        title: title.to_owned(),
        description: "I design, build and test **Rust** gRPC services.".to_owned(),
        category_id: "programming-tech".to_owned(),
        subcategory_id: "backend-apis".to_owned(),
        tags: vec!["Rust".to_owned(), "gRPC".to_owned()],
        packages: vec![
            package(PackageTier::Basic, "Starter", 5_000),
            package(PackageTier::Standard, "Standard", 12_000),
            package(PackageTier::Premium, "Complete", 30_000),
        ],
        extras: vec![Extra {
            id: String::new(),
            title: "Fast delivery".to_owned(),
            price: usd(2_000),
            extra_days: 0,
        }],
        gallery: vec![
            image("https://cdn.example.com/cover.png", true),
            GalleryItem {
                kind: MediaKind::Video as i32,
                url: "https://cdn.example.com/demo.mp4".to_owned(),
                cover: false,
            },
        ],
        requirements: vec![Requirement {
            question: "Which database do you use?".to_owned(),
            kind: RequirementKind::MultipleChoice as i32,
            options: vec!["PostgreSQL".to_owned(), "SQLite".to_owned()],
            required: true,
        }],
        faq: vec![Faq {
            question: "Do you write tests?".to_owned(),
            answer: "Always.".to_owned(),
        }],
        ..Gig::default()
    }
}

fn state(gig: &Gig) -> GigState {
    GigState::try_from(gig.state).expect("state")
}

fn moderation(gig: &Gig) -> ModerationState {
    ModerationState::try_from(gig.moderation_state).expect("moderation state")
}

fn changes(events: &[(String, GigChanged)]) -> Vec<GigChange> {
    events
        .iter()
        .map(|(_, event)| GigChange::try_from(event.change).expect("change"))
        .collect()
}

fn ids(gigs: &[Gig]) -> Vec<String> {
    gigs.iter().map(|gig| gig.id.clone()).collect()
}

async fn the_taxonomy_is_served(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let categories = gigs
        .client
        .list_categories(ListCategoriesRequest {})
        .await
        .expect("categories")
        .into_inner()
        .categories;
    assert_eq!(categories.len(), 8);
    let programming = categories
        .iter()
        .find(|category| category.id == "programming-tech")
        .expect("programming & tech");
    assert!(
        programming
            .subcategories
            .iter()
            .any(|subcategory| subcategory.id == "web-development")
    );
    assert!(
        categories
            .iter()
            .all(|category| (4..=8).contains(&category.subcategories.len()))
    );
}

async fn a_gig_goes_through_its_lifecycle_with_increasing_versions(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();

    let draft = gigs
        .create(&seller, complete_gig("I will build your Rust backend"))
        .await
        .expect("create");
    assert_eq!(state(&draft), GigState::Draft);
    assert_eq!(moderation(&draft), ModerationState::Pending);
    assert_eq!(draft.seller_id, seller.user_id);
    assert_eq!(draft.slug, "i-will-build-your-rust-backend");
    assert_eq!(draft.tags, ["rust", "grpc"]);
    assert!(Uuid::parse_str(&draft.extras[0].id).is_ok());
    assert!(draft.publish_time.is_none());

    let published = gigs.publish(&seller, &draft.id).await.expect("publish");
    assert_eq!(state(&published), GigState::Active);
    assert_eq!(moderation(&published), ModerationState::Approved);
    assert!(published.publish_time.is_some());

    let paused = gigs.pause(&seller, &draft.id).await.expect("pause");
    assert_eq!(state(&paused), GigState::Paused);
    let status = gigs.pause(&seller, &draft.id).await.expect_err("twice");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("paused"), "{status:?}");

    let resumed = gigs.resume(&seller, &draft.id).await.expect("resume");
    assert_eq!(state(&resumed), GigState::Active);

    let mut edit = Gig {
        id: draft.id.clone(),
        title: "I will build your Rust backend and API".to_owned(),
        ..complete_gig("ignored")
    };
    edit.extras.push(Extra {
        id: String::new(),
        title: "Deployment".to_owned(),
        price: usd(4_000),
        extra_days: 2,
    });
    let edited = gigs
        .update(&seller, edit, &["title", "extras"])
        .await
        .expect("update");
    assert_eq!(edited.title, "I will build your Rust backend and API");
    // A published gig keeps its slug, so shared links keep working.
    assert_eq!(edited.slug, draft.slug);
    // Extras keep their id by title.
    assert_eq!(edited.extras[0].id, draft.extras[0].id);
    assert_eq!(edited.extras.len(), 2);

    gigs.delete(&seller, &draft.id).await.expect("delete");
    let status = gigs.delete(&seller, &draft.id).await.expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
    let (mine, _) = gigs.my_gigs(&seller, 0, "").await.expect("list");
    assert!(mine.is_empty());

    let emitted = gigs.emitted().await;
    assert_eq!(
        changes(&emitted),
        [
            GigChange::Created,
            GigChange::Published,
            GigChange::Paused,
            GigChange::Resumed,
            GigChange::Updated,
            GigChange::Deleted,
        ]
    );
    let versions: Vec<i64> = emitted.iter().map(|(_, event)| event.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    assert!(emitted.iter().all(|(key, _)| *key == draft.id));
    let (_, last) = emitted.last().expect("deleted event");
    let snapshot = last.gig.as_ref().expect("snapshot");
    assert_eq!(state(snapshot), GigState::Deleted);
    assert_eq!(snapshot.title, "I will build your Rust backend and API");
    assert_eq!(
        snapshot.seller.as_ref().expect("seller").user_id,
        seller.user_id
    );

    // A change that changes nothing emits nothing.
    let other = gigs
        .create(&seller, complete_gig("Another gig about Rust services"))
        .await
        .expect("create");
    gigs.emitted().await;
    let same = Gig {
        id: other.id.clone(),
        ..complete_gig("Another gig about Rust services")
    };
    gigs.update(&seller, same, &[]).await.expect("no-op update");
    assert!(gigs.emitted().await.is_empty());
}

async fn visibility_depends_on_state_and_caller(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let owner = gigs.seller();
    let other_seller = gigs.seller();
    let buyer = gigs.buyer();
    let admin = gigs.admin();
    let gig = gigs
        .create(&owner, complete_gig("I will design your company logo"))
        .await
        .expect("create");

    async fn who_sees(
        gigs: &mut TestGigs,
        gig: &Gig,
        viewers: &[(&str, Option<&Account>)],
    ) -> Vec<String> {
        let mut seen = Vec::new();
        for (name, viewer) in viewers {
            let by_id = gigs.get(*viewer, GigKey::GigId(gig.id.clone())).await;
            let by_slug = gigs.get(*viewer, GigKey::Slug(gig.slug.clone())).await;
            match (by_id, by_slug) {
                (Ok(found), Ok(same)) => {
                    assert_eq!(found.id, gig.id);
                    assert_eq!(same.id, gig.id);
                    seen.push((*name).to_owned());
                }
                (Err(by_id), Err(by_slug)) => {
                    assert_eq!(by_id.code(), Code::NotFound, "{name}: {by_id:?}");
                    assert_eq!(by_slug.code(), Code::NotFound, "{name}: {by_slug:?}");
                }
                other => panic!("{name}: id and slug disagree: {other:?}"),
            }
        }
        seen
    }
    let viewers = [
        ("owner", Some(&owner)),
        ("other seller", Some(&other_seller)),
        ("buyer", Some(&buyer)),
        ("anonymous", None),
        ("admin", Some(&admin)),
    ];
    let everyone = ["owner", "other seller", "buyer", "anonymous", "admin"];
    let owner_and_admin = ["owner", "admin"];

    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, owner_and_admin);
    gigs.publish(&owner, &gig.id).await.expect("publish");
    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, everyone);
    gigs.pause(&owner, &gig.id).await.expect("pause");
    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, owner_and_admin);
    gigs.resume(&owner, &gig.id).await.expect("resume");
    gigs.moderate(&admin, &gig.id, ModerationAction::Suspend, "copied artwork")
        .await
        .expect("suspend");
    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, owner_and_admin);
    gigs.moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect("approve");
    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, everyone);
    gigs.moderate(
        &admin,
        &gig.id,
        ModerationAction::Reject,
        "misleading title",
    )
    .await
    .expect("reject");
    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, owner_and_admin);
    gigs.delete(&owner, &gig.id).await.expect("delete");
    assert_eq!(who_sees(&mut gigs, &gig, &viewers).await, owner_and_admin);

    // A bad token on this public method counts as no token.
    let found = gigs
        .client
        .get_gig(signed_in(
            "not-a-jwt",
            GetGigRequest {
                gig: Some(GigKey::GigId(gig.id.clone())),
            },
        ))
        .await
        .expect_err("deleted gig, anonymous caller");
    assert_eq!(found.code(), Code::NotFound);
    let status = gigs
        .get(None, GigKey::GigId(Uuid::now_v7().to_string()))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = gigs
        .client
        .get_gig(GetGigRequest { gig: None })
        .await
        .expect_err("no key");
    assert_eq!(violated_fields(&status), ["gig"]);
}

async fn only_the_owner_changes_a_gig(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let owner = gigs.seller();
    let intruder = gigs.seller();
    let admin = gigs.admin();
    let draft = gigs
        .create(&owner, complete_gig("I will write your API documentation"))
        .await
        .expect("create");
    let active = gigs
        .published_gig(&owner, "I will review your Rust code in depth")
        .await;
    gigs.emitted().await;

    for someone in [&intruder, &admin] {
        for gig in [&draft, &active] {
            let edit = Gig {
                id: gig.id.clone(),
                title: "Taken over by someone else".to_owned(),
                ..Gig::default()
            };
            let status = gigs
                .update(someone, edit, &["title"])
                .await
                .expect_err("update");
            assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            let status = gigs.publish(someone, &gig.id).await.expect_err("publish");
            assert_eq!(status.code(), Code::PermissionDenied);
            let status = gigs.pause(someone, &gig.id).await.expect_err("pause");
            assert_eq!(status.code(), Code::PermissionDenied);
            let status = gigs.resume(someone, &gig.id).await.expect_err("resume");
            assert_eq!(status.code(), Code::PermissionDenied);
            let status = gigs.delete(someone, &gig.id).await.expect_err("delete");
            assert_eq!(status.code(), Code::PermissionDenied);
        }
    }
    assert!(gigs.emitted().await.is_empty());
    let still = gigs
        .get(None, GigKey::GigId(active.id.clone()))
        .await
        .expect("still visible");
    assert_eq!(still.title, "I will review your Rust code in depth");

    // Creating needs the seller role, and every change needs a token.
    let buyer = gigs.buyer();
    let status = gigs
        .create(&buyer, complete_gig("A buyer cannot offer gigs"))
        .await
        .expect_err("buyer");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = gigs
        .client
        .create_gig(CreateGigRequest {
            gig: Some(complete_gig("Nobody signed in here")),
        })
        .await
        .expect_err("anonymous");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = gigs
        .client
        .pause_gig(PauseGigRequest {
            gig_id: active.id.clone(),
        })
        .await
        .expect_err("anonymous");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn admins_moderate_with_a_reason(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let admin = gigs.admin();
    let gig = gigs
        .published_gig(&seller, "I will translate your app to German")
        .await;

    let status = gigs
        .moderate(&seller, &gig.id, ModerationAction::Suspend, "no")
        .await
        .expect_err("not an admin");
    assert_eq!(status.code(), Code::PermissionDenied);
    for action in [ModerationAction::Reject, ModerationAction::Suspend] {
        let status = gigs
            .moderate(&admin, &gig.id, action, "  ")
            .await
            .expect_err("no reason");
        assert_eq!(violated_fields(&status), ["reason"]);
    }
    let status = gigs
        .moderate(&admin, &gig.id, ModerationAction::Unspecified, "")
        .await
        .expect_err("no action");
    assert_eq!(violated_fields(&status), ["action"]);
    let status = gigs
        .moderate(&admin, &gig.id, ModerationAction::Reject, &"x".repeat(501))
        .await
        .expect_err("long reason");
    assert_eq!(violated_fields(&status), ["reason"]);

    let rejected = gigs
        .moderate(
            &admin,
            &gig.id,
            ModerationAction::Reject,
            "machine translation",
        )
        .await
        .expect("reject");
    assert_eq!(moderation(&rejected), ModerationState::Rejected);
    assert_eq!(state(&rejected), GigState::Draft);
    assert_eq!(rejected.moderation_reason, "machine translation");
    let status = gigs
        .moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect_err("drafts are not moderated");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // The owner fixes it and publishes again.
    let fixed = Gig {
        id: gig.id.clone(),
        description: "Human translation by a native speaker.".to_owned(),
        ..Gig::default()
    };
    gigs.update(&seller, fixed, &["description"])
        .await
        .expect("edit the rejected gig");
    let republished = gigs.publish(&seller, &gig.id).await.expect("publish again");
    assert_eq!(moderation(&republished), ModerationState::Approved);
    assert_eq!(republished.moderation_reason, "");
    gigs.get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible again");

    let suspended = gigs
        .moderate(&admin, &gig.id, ModerationAction::Suspend, "complaints")
        .await
        .expect("suspend");
    assert_eq!(moderation(&suspended), ModerationState::Suspended);
    assert_eq!(state(&suspended), GigState::Active);
    // Resuming and pausing does not lift a suspension.
    gigs.pause(&seller, &gig.id).await.expect("pause");
    gigs.resume(&seller, &gig.id).await.expect("resume");
    let status = gigs
        .get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect_err("still suspended");
    assert_eq!(status.code(), Code::NotFound);
    let approved = gigs
        .moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect("approve");
    assert_eq!(moderation(&approved), ModerationState::Approved);
    gigs.get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible");

    let emitted = gigs.emitted().await;
    assert!(changes(&emitted).contains(&GigChange::Moderated));
    let versions: Vec<i64> = emitted.iter().map(|(_, event)| event.version).collect();
    assert!(
        versions.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{versions:?}"
    );
}

async fn with_required_reviews_a_published_gig_waits_for_approval(backend: Backend) {
    let config = Config {
        require_review: true,
    };
    let mut gigs = TestGigs::start_with(backend, config).await;
    let seller = gigs.seller();
    let admin = gigs.admin();
    let gig = gigs
        .published_gig(&seller, "I will mix and master your song")
        .await;
    assert_eq!(state(&gig), GigState::Active);
    assert_eq!(moderation(&gig), ModerationState::Pending);
    let status = gigs
        .get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect_err("waiting for review");
    assert_eq!(status.code(), Code::NotFound);
    let (listed, _) = gigs
        .seller_gigs(&seller.user_id, 0, "")
        .await
        .expect("list");
    assert!(listed.is_empty());

    gigs.moderate(&admin, &gig.id, ModerationAction::Approve, "")
        .await
        .expect("approve");
    gigs.get(None, GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible once approved");
}

async fn publishing_needs_a_complete_gig(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let draft = gigs
        .create(
            &seller,
            Gig {
                title: "I will make a podcast intro".to_owned(),
                ..Gig::default()
            },
        )
        .await
        .expect("a draft may be incomplete");
    let status = gigs
        .publish(&seller, &draft.id)
        .await
        .expect_err("incomplete");
    assert_eq!(status.code(), Code::FailedPrecondition);
    for missing in [
        "description",
        "category_id",
        "subcategory_id",
        "packages",
        "gallery",
    ] {
        assert!(status.message().contains(missing), "{missing}: {status:?}");
    }

    let completed = Gig {
        id: draft.id.clone(),
        ..complete_gig("I will make a podcast intro")
    };
    gigs.update(&seller, completed, &[])
        .await
        .expect("complete it");
    let published = gigs.publish(&seller, &draft.id).await.expect("publish");

    // A published gig must stay complete.
    let without_gallery = Gig {
        id: published.id.clone(),
        ..Gig::default()
    };
    let status = gigs
        .update(&seller, without_gallery, &["gallery"])
        .await
        .expect_err("must stay complete");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("gallery"), "{status:?}");
}

async fn slugs_are_unique_and_follow_the_title_until_published(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let first = gigs
        .create(&seller, complete_gig("I will set up your CI pipeline"))
        .await
        .expect("first");
    let second = gigs
        .create(&seller, complete_gig("I will set up your CI pipeline!"))
        .await
        .expect("second");
    let third = gigs
        .create(
            &gigs.seller(),
            complete_gig("I will set up your CI pipeline"),
        )
        .await
        .expect("third");
    assert_eq!(first.slug, "i-will-set-up-your-ci-pipeline");
    assert_eq!(second.slug, "i-will-set-up-your-ci-pipeline-2");
    assert_eq!(third.slug, "i-will-set-up-your-ci-pipeline-3");

    let renamed = gigs
        .update(
            &seller,
            Gig {
                id: second.id.clone(),
                title: "I will set up GitHub Actions for you".to_owned(),
                ..Gig::default()
            },
            &["title"],
        )
        .await
        .expect("rename the draft");
    assert_eq!(renamed.slug, "i-will-set-up-github-actions-for-you");
    let found = gigs
        .get(Some(&seller), GigKey::Slug(renamed.slug.clone()))
        .await
        .expect("by slug");
    assert_eq!(found.id, second.id);
}

async fn bad_input_names_the_field(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();

    let mut cases: Vec<(Gig, Vec<&str>)> = Vec::new();
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages[0].price = usd(-100);
    gig.packages[1].price = usd(0);
    cases.push((
        gig,
        vec![
            "gig.packages[0].price.amount_minor",
            "gig.packages[1].price.amount_minor",
        ],
    ));
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages.swap(0, 1);
    cases.push((gig, vec!["gig.packages[1].tier"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages[2].price = usd(12_000);
    cases.push((gig, vec!["gig.packages[2].price.amount_minor"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages[1].tier = PackageTier::Basic as i32;
    cases.push((gig, vec!["gig.packages[1].tier"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages = vec![package(PackageTier::Standard, "Standard", 5_000)];
    cases.push((gig, vec!["gig.packages"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages[1].price = Some(Money {
        amount_minor: 12_000,
        currency: "EUR".to_owned(),
    });
    gig.packages[2].price = Some(Money {
        amount_minor: 30_000,
        currency: "DOLLARS".to_owned(),
    });
    cases.push((gig, vec!["gig.packages[2].price.currency"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.packages[0].delivery_days = 0;
    gig.packages[1].delivery_days = 91;
    gig.packages[1].revisions = 21;
    gig.packages[2].revisions = -2;
    gig.packages[2].features = vec!["f".to_owned(); 11];
    gig.packages[0].name = String::new();
    cases.push((
        gig,
        vec![
            "gig.packages[0].name",
            "gig.packages[0].delivery_days",
            "gig.packages[1].delivery_days",
            "gig.packages[1].revisions",
            "gig.packages[2].revisions",
            "gig.packages[2].features",
        ],
    ));
    cases.push((
        Gig {
            title: "t".repeat(10_000),
            ..complete_gig("")
        },
        vec!["gig.title"],
    ));
    cases.push((
        Gig {
            title: "Too short".to_owned(),
            ..complete_gig("")
        },
        vec!["gig.title"],
    ));
    cases.push((
        Gig {
            description: "d".repeat(5_001),
            ..complete_gig("A valid title for the gig")
        },
        vec!["gig.description"],
    ));
    cases.push((
        Gig {
            category_id: "astrology".to_owned(),
            subcategory_id: String::new(),
            ..complete_gig("A valid title for the gig")
        },
        vec!["gig.category_id"],
    ));
    cases.push((
        Gig {
            category_id: "graphics-design".to_owned(),
            subcategory_id: "backend-apis".to_owned(),
            ..complete_gig("A valid title for the gig")
        },
        vec!["gig.subcategory_id"],
    ));
    cases.push((
        Gig {
            subcategory_id: "no-such-thing".to_owned(),
            ..complete_gig("A valid title for the gig")
        },
        vec!["gig.subcategory_id"],
    ));
    cases.push((
        Gig {
            tags: (0..11).map(|n| format!("tag{n}")).collect(),
            ..complete_gig("A valid title for the gig")
        },
        vec!["gig.tags"],
    ));
    cases.push((
        Gig {
            tags: vec![
                "rust".to_owned(),
                "RUST".to_owned(),
                "x".to_owned(),
                "t".repeat(21),
                "no/slash".to_owned(),
            ],
            ..complete_gig("A valid title for the gig")
        },
        vec!["gig.tags[1]", "gig.tags[2]", "gig.tags[3]", "gig.tags[4]"],
    ));
    let mut gig = complete_gig("A valid title for the gig");
    gig.gallery = (0..9)
        .map(|n| image(&format!("https://cdn.example.com/{n}.png"), n == 0))
        .collect();
    cases.push((gig, vec!["gig.gallery"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.gallery = (0..11)
        .map(|n| image(&format!("https://cdn.example.com/{n}.png"), n == 0))
        .collect();
    cases.push((gig, vec!["gig.gallery"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.gallery[0].cover = false;
    cases.push((gig, vec!["gig.gallery"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.gallery[0].url = "http://cdn.example.com/cover.png".to_owned();
    gig.gallery[1].kind = MediaKind::Unspecified as i32;
    cases.push((gig, vec!["gig.gallery[0].url", "gig.gallery[1].kind"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.extras[0].price = usd(0);
    gig.extras[0].extra_days = 31;
    gig.extras.push(Extra {
        id: String::new(),
        title: "Paid in euros".to_owned(),
        price: Some(Money {
            amount_minor: 100,
            currency: "EUR".to_owned(),
        }),
        extra_days: 0,
    });
    cases.push((
        gig,
        vec![
            "gig.extras[0].price.amount_minor",
            "gig.extras[0].extra_days",
        ],
    ));
    let mut gig = complete_gig("A valid title for the gig");
    gig.extras[0].title = "Paid in euros".to_owned();
    gig.extras[0].price = Some(Money {
        amount_minor: 100,
        currency: "EUR".to_owned(),
    });
    cases.push((gig, vec!["gig.extras[0].price.currency"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.extras = vec![gig.extras[0].clone(); 11];
    cases.push((gig, vec!["gig.extras"]));
    let mut gig = complete_gig("A valid title for the gig");
    gig.requirements = vec![
        Requirement {
            question: "Pick one".to_owned(),
            kind: RequirementKind::MultipleChoice as i32,
            options: vec!["only".to_owned()],
            required: false,
        },
        Requirement {
            question: "Describe it".to_owned(),
            kind: RequirementKind::Text as i32,
            options: vec!["a".to_owned(), "b".to_owned()],
            required: false,
        },
        Requirement {
            question: String::new(),
            kind: RequirementKind::Unspecified as i32,
            options: Vec::new(),
            required: false,
        },
    ];
    cases.push((
        gig,
        vec![
            "gig.requirements[0].options",
            "gig.requirements[1].options",
            "gig.requirements[2].question",
            "gig.requirements[2].kind",
        ],
    ));
    let mut gig = complete_gig("A valid title for the gig");
    gig.requirements = vec![gig.requirements[0].clone(); 11];
    gig.faq = vec![gig.faq[0].clone(); 11];
    cases.push((gig, vec!["gig.requirements", "gig.faq"]));

    for (gig, expected) in cases {
        let status = gigs.create(&seller, gig).await.expect_err("invalid");
        assert_eq!(violated_fields(&status), expected, "{status:?}");
    }
    let status = gigs
        .client
        .create_gig(signed_in(&seller.token, CreateGigRequest { gig: None }))
        .await
        .expect_err("no gig");
    assert_eq!(violated_fields(&status), ["gig"]);

    // Updates: explicitly emptying the packages, unknown mask paths, bad ids.
    let gig = gigs
        .create(&seller, complete_gig("A valid title for the gig"))
        .await
        .expect("valid");
    let status = gigs
        .update(
            &seller,
            Gig {
                id: gig.id.clone(),
                ..Gig::default()
            },
            &["packages"],
        )
        .await
        .expect_err("no packages");
    assert_eq!(violated_fields(&status), ["gig.packages"]);
    let status = gigs
        .update(
            &seller,
            Gig {
                id: gig.id.clone(),
                ..Gig::default()
            },
            &["title", "state", "slug"],
        )
        .await
        .expect_err("unknown paths");
    assert_eq!(violated_fields(&status), ["update_mask"]);
    for path in ["\"state\"", "\"slug\""] {
        assert!(status.message().contains(path), "{status:?}");
    }
    let status = gigs
        .update(
            &seller,
            Gig {
                id: gig.id.clone(),
                category_id: "data".to_owned(),
                ..Gig::default()
            },
            &["category_id"],
        )
        .await
        .expect_err("subcategory of another category");
    assert_eq!(violated_fields(&status), ["gig.subcategory_id"]);
    let status = gigs
        .update(
            &seller,
            Gig {
                id: "nope".to_owned(),
                ..Gig::default()
            },
            &["title"],
        )
        .await
        .expect_err("bad id");
    assert_eq!(violated_fields(&status), ["gig.id", "gig.title"]);
    let status = gigs.publish(&seller, "").await.expect_err("no id");
    assert_eq!(violated_fields(&status), ["gig_id"]);
    let status = gigs
        .publish(&seller, &Uuid::now_v7().to_string())
        .await
        .expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound);

    // Nothing but the valid gig was created.
    let (mine, _) = gigs.my_gigs(&seller, 0, "").await.expect("list");
    assert_eq!(ids(&mine), [gig.id]);
}

async fn lists_are_paged_by_keyset(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let mut created = Vec::new();
    for n in 0..5 {
        let gig = gigs
            .published_gig(&seller, &format!("I will build landing page number {n}"))
            .await;
        created.push(gig.id);
    }
    let hidden = gigs
        .create(&seller, complete_gig("A draft nobody else sees"))
        .await
        .expect("draft");
    gigs.pause(&seller, &created[1]).await.expect("pause");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (page, next) = gigs.my_gigs(&seller, 2, &token).await.expect("page");
        assert!(page.len() <= 2);
        seen.extend(ids(&page));
        pages += 1;
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(pages, 3);
    let mut expected = vec![hidden.id.clone()];
    expected.extend(newest_first.iter().cloned());
    assert_eq!(seen, expected);

    // A gig created between pages does not shift the next page (keyset, not offset).
    let (first, token) = gigs.my_gigs(&seller, 3, "").await.expect("first page");
    gigs.create(&seller, complete_gig("Created while paging through"))
        .await
        .expect("new draft");
    let (second, _) = gigs.my_gigs(&seller, 3, &token).await.expect("second page");
    let mut both = ids(&first);
    both.extend(ids(&second));
    assert_eq!(both, expected);

    let (all, next) = gigs.my_gigs(&seller, 0, "").await.expect("default size");
    assert_eq!(all.len(), 7);
    assert!(next.is_empty());
    let (all, next) = gigs
        .my_gigs(&seller, 10_000, "")
        .await
        .expect("clamped size");
    assert_eq!(all.len(), 7);
    assert!(next.is_empty());
    let status = gigs.my_gigs(&seller, -1, "").await.expect_err("negative");
    assert_eq!(violated_fields(&status), ["page_size"]);
    let status = gigs
        .my_gigs(&seller, 2, "not-a-token")
        .await
        .expect_err("bad token");
    assert_eq!(violated_fields(&status), ["page_token"]);

    // Buyers see only the visible gigs of a seller.
    let (public, next) = gigs
        .seller_gigs(&seller.user_id, 2, "")
        .await
        .expect("public");
    assert_eq!(
        ids(&public),
        [newest_first[0].clone(), newest_first[1].clone()]
    );
    let (rest, last) = gigs
        .seller_gigs(&seller.user_id, 2, &next)
        .await
        .expect("public page 2");
    assert_eq!(
        ids(&rest),
        [newest_first[2].clone(), newest_first[4].clone()]
    );
    assert!(last.is_empty());
    let status = gigs
        .seller_gigs("nope", 0, "%%%")
        .await
        .expect_err("bad seller and token");
    assert_eq!(violated_fields(&status), ["seller_id", "page_token"]);
}

async fn buyers_save_visible_gigs(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let buyer = gigs.buyer();
    let first = gigs
        .published_gig(&seller, "I will edit your YouTube video")
        .await;
    let second = gigs
        .published_gig(&seller, "I will write your blog articles")
        .await;
    let third = gigs
        .published_gig(&seller, "I will record your voice over")
        .await;
    let draft = gigs
        .create(&seller, complete_gig("I will not be visible yet"))
        .await
        .expect("draft");

    gigs.save(&buyer, &first.id).await.expect("save");
    gigs.save(&buyer, &second.id).await.expect("save");
    gigs.save(&buyer, &third.id).await.expect("save");
    gigs.save(&buyer, &first.id)
        .await
        .expect("saving again is fine");
    let status = gigs.save(&buyer, &draft.id).await.expect_err("invisible");
    assert_eq!(status.code(), Code::NotFound);
    let status = gigs
        .save(&buyer, &Uuid::now_v7().to_string())
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = gigs.save(&buyer, "nope").await.expect_err("bad id");
    assert_eq!(violated_fields(&status), ["gig_id"]);

    let (page, token) = gigs.saved(&buyer, 2, "").await.expect("saved");
    assert_eq!(ids(&page), [third.id.clone(), second.id.clone()]);
    let (page, last) = gigs.saved(&buyer, 2, &token).await.expect("saved page 2");
    assert_eq!(ids(&page), [first.id.as_str()]);
    assert!(last.is_empty());

    // A gig that is no longer visible is skipped; it comes back when visible again.
    gigs.pause(&seller, &second.id).await.expect("pause");
    let (page, _) = gigs.saved(&buyer, 0, "").await.expect("saved");
    assert_eq!(ids(&page), [third.id.clone(), first.id.clone()]);
    gigs.resume(&seller, &second.id).await.expect("resume");

    gigs.client
        .unsave_gig(signed_in(
            &buyer.token,
            UnsaveGigRequest {
                gig_id: third.id.clone(),
            },
        ))
        .await
        .expect("unsave");
    gigs.client
        .unsave_gig(signed_in(
            &buyer.token,
            UnsaveGigRequest {
                gig_id: third.id.clone(),
            },
        ))
        .await
        .expect("unsaving again is fine");
    let (page, _) = gigs.saved(&buyer, 0, "").await.expect("saved");
    assert_eq!(ids(&page), [second.id.clone(), first.id.clone()]);

    let other = gigs.buyer();
    let (page, _) = gigs.saved(&other, 0, "").await.expect("saved");
    assert!(page.is_empty());
    let status = gigs
        .client
        .list_saved_gigs(ListSavedGigsRequest::default())
        .await
        .expect_err("anonymous");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = gigs
        .saved(&buyer, 0, "garbage")
        .await
        .expect_err("bad token");
    assert_eq!(violated_fields(&status), ["page_token"]);
}

fn profile_changed(user_id: &str, display_name: &str) -> ProfileChanged {
    ProfileChanged {
        profile: Some(PublicProfile {
            user_id: user_id.to_owned(),
            username: "ada".to_owned(),
            display_name: display_name.to_owned(),
            bio: "Builds engines.".to_owned(),
            country: "GB".to_owned(),
            languages: vec![
                Language {
                    code: "en".to_owned(),
                    proficiency: Proficiency::Native as i32,
                },
                Language {
                    code: "fr".to_owned(),
                    proficiency: Proficiency::Fluent as i32,
                },
            ],
            avatar_url: "https://cdn.example.com/ada.png".to_owned(),
            is_seller: true,
            seller: None,
            create_time: None,
        }),
        suspended: false,
    }
}

async fn seller_summaries_come_from_profile_events(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let first = gigs
        .published_gig(&seller, "I will tune your PostgreSQL")
        .await;
    let second = gigs
        .create(&seller, complete_gig("I will migrate your database"))
        .await
        .expect("draft");
    let deleted = gigs.published_gig(&seller, "I will be deleted soon").await;
    gigs.delete(&seller, &deleted.id).await.expect("delete");
    gigs.emitted().await;

    let envelope = gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada Lovelace"),
    )
    .await;
    gigmesh_testing::publish_envelope(&gigs.bus, USERS_TOPIC, &envelope).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );

    let page = gigs
        .get(None, GigKey::GigId(first.id.clone()))
        .await
        .expect("public gig");
    let summary = page.seller.expect("seller summary");
    assert_eq!(summary.user_id, seller.user_id);
    assert_eq!(summary.display_name, "Ada Lovelace");
    assert_eq!(summary.username, "ada");
    assert_eq!(summary.country, "GB");
    assert_eq!(summary.languages, ["en", "fr"]);
    assert_eq!(summary.avatar_url, "https://cdn.example.com/ada.png");

    // Every live gig is emitted again, once, with the summary; the deleted one is not.
    let emitted = gigs.emitted().await;
    assert_eq!(
        changes(&emitted),
        [GigChange::SellerUpdated, GigChange::SellerUpdated]
    );
    let mut keys: Vec<String> = emitted.iter().map(|(key, _)| key.clone()).collect();
    keys.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    for (key, event) in &emitted {
        let snapshot = event.gig.as_ref().expect("snapshot");
        assert_eq!(
            snapshot.seller.as_ref().expect("seller").display_name,
            "Ada Lovelace"
        );
        let previous_version = if *key == first.id { 2 } else { 1 };
        assert_eq!(event.version, previous_version + 1, "{key}");
    }

    // The same profile again (a new event id) changes nothing and emits nothing.
    gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada Lovelace"),
    )
    .await;
    gigs.consume().await;
    assert!(gigs.emitted().await.is_empty());

    // Profiles of users who are not sellers are not kept.
    let buyer_id = Uuid::now_v7().to_string();
    let mut buyer_profile = profile_changed(&buyer_id, "Just Buying");
    if let Some(profile) = buyer_profile.profile.as_mut() {
        profile.is_seller = false;
    }
    gigmesh_testing::publish_event(&gigs.bus, &buyer_id, &buyer_profile).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );

    // Gigs created later carry the summary from the start.
    let later = gigs
        .create(&seller, complete_gig("I will index your slow queries"))
        .await
        .expect("create");
    assert_eq!(later.seller.expect("seller").display_name, "Ada Lovelace");
}

async fn a_suspended_sellers_gigs_are_hidden_from_buyers(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let buyer = gigs.buyer();
    let admin = gigs.admin();
    let gig = gigs
        .published_gig(&seller, "I will shoot your product photos")
        .await;
    gigs.save(&buyer, &gig.id).await.expect("save");

    let mut suspension = profile_changed(&seller.user_id, "Ada");
    suspension.suspended = true;
    gigmesh_testing::publish_event(&gigs.bus, &seller.user_id, &suspension).await;
    gigs.consume().await;

    let status = gigs
        .get(Some(&buyer), GigKey::GigId(gig.id.clone()))
        .await
        .expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);
    for viewer in [&seller, &admin] {
        gigs.get(Some(viewer), GigKey::GigId(gig.id.clone()))
            .await
            .expect("owner and admins still see it");
    }
    let (listed, _) = gigs
        .seller_gigs(&seller.user_id, 0, "")
        .await
        .expect("list");
    assert!(listed.is_empty());
    let (saved, _) = gigs.saved(&buyer, 0, "").await.expect("saved");
    assert!(saved.is_empty());
    let status = gigs.save(&gigs.buyer(), &gig.id).await.expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);

    let lifted = profile_changed(&seller.user_id, "Ada");
    gigmesh_testing::publish_event(&gigs.bus, &seller.user_id, &lifted).await;
    gigs.consume().await;
    gigs.get(Some(&buyer), GigKey::GigId(gig.id.clone()))
        .await
        .expect("visible again");
    let (saved, _) = gigs.saved(&buyer, 0, "").await.expect("saved");
    assert_eq!(ids(&saved), [gig.id.as_str()]);
}

async fn ratings_come_from_review_events(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let rated = gigs
        .published_gig(&seller, "I will animate your logo")
        .await;
    let other = gigs
        .published_gig(&seller, "I will design your banner")
        .await;
    gigs.emitted().await;

    let event = RatingsChanged {
        gig_id: rated.id.clone(),
        gig_rating: 4.5,
        gig_rating_count: 2,
        seller_id: seller.user_id.clone(),
        seller_rating: 4.75,
        seller_rating_count: 4,
    };
    let envelope = gigmesh_testing::publish_event(&gigs.bus, &rated.id, &event).await;
    gigmesh_testing::publish_envelope(&gigs.bus, REVIEWS_TOPIC, &envelope).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );

    let page = gigs
        .get(None, GigKey::GigId(rated.id.clone()))
        .await
        .expect("rated gig");
    assert_eq!(page.rating, 4.5);
    assert_eq!(page.rating_count, 2);
    let summary = page.seller.expect("seller");
    assert_eq!(summary.rating, 4.75);
    assert_eq!(summary.rating_count, 4);
    let page = gigs
        .get(None, GigKey::GigId(other.id.clone()))
        .await
        .expect("other gig");
    assert_eq!(page.rating, 0.0);
    assert_eq!(page.seller.expect("seller").rating, 4.75);

    let emitted = gigs.emitted().await;
    let by_gig: Vec<(String, GigChange, i64)> = emitted
        .iter()
        .map(|(key, event)| {
            (
                key.clone(),
                GigChange::try_from(event.change).expect("change"),
                event.version,
            )
        })
        .collect();
    assert_eq!(
        by_gig,
        [
            (rated.id.clone(), GigChange::Updated, 3),
            (other.id.clone(), GigChange::SellerUpdated, 3),
        ]
    );
    let snapshot = emitted[0].1.gig.as_ref().expect("snapshot");
    assert_eq!(snapshot.rating, 4.5);
    assert_eq!(snapshot.seller.as_ref().expect("seller").rating, 4.75);

    // A profile arriving after the ratings keeps them.
    gigmesh_testing::publish_event(
        &gigs.bus,
        &seller.user_id,
        &profile_changed(&seller.user_id, "Ada"),
    )
    .await;
    gigs.consume().await;
    let page = gigs
        .get(None, GigKey::GigId(other.id.clone()))
        .await
        .expect("other gig");
    let summary = page.seller.expect("seller");
    assert_eq!(summary.display_name, "Ada");
    assert_eq!(summary.rating, 4.75);

    // A malformed event is dead-lettered and the consumer moves on.
    let broken = RatingsChanged {
        gig_id: "not-a-uuid".to_owned(),
        ..RatingsChanged::default()
    };
    gigmesh_testing::publish_event(&gigs.bus, "not-a-uuid", &broken).await;
    let outcomes = gigs.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::DeadLettered { .. }]),
        "{outcomes:?}"
    );
}

async fn concurrent_changes_get_one_version_each(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let gig = gigs
        .published_gig(&seller, "I will localise your mobile app")
        .await;
    gigs.emitted().await;

    let mut edits = tokio::task::JoinSet::new();
    for n in 0..4 {
        let mut client = gigs.client.clone();
        let request = signed_in(
            &seller.token,
            UpdateGigRequest {
                gig: Some(Gig {
                    id: gig.id.clone(),
                    description: format!("Edition number {n} of the description."),
                    ..Gig::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["description".to_owned()],
                }),
            },
        );
        edits.spawn(async move { client.update_gig(request).await });
    }
    let mut applied = 0;
    while let Some(result) = edits.join_next().await {
        match result.expect("task") {
            Ok(_) => applied += 1,
            // A writer that lost every retry is told to retry; nothing was written for it.
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert!(applied >= 1);
    let versions: Vec<i64> = gigs
        .emitted()
        .await
        .iter()
        .map(|(_, event)| event.version)
        .collect();
    let expected: Vec<i64> = (3..3 + applied).collect();
    assert_eq!(versions, expected);
}

gigmesh_testing::on_sqlite_and_postgres!(
    the_taxonomy_is_served,
    a_gig_goes_through_its_lifecycle_with_increasing_versions,
    visibility_depends_on_state_and_caller,
    only_the_owner_changes_a_gig,
    admins_moderate_with_a_reason,
    with_required_reviews_a_published_gig_waits_for_approval,
    publishing_needs_a_complete_gig,
    slugs_are_unique_and_follow_the_title_until_published,
    bad_input_names_the_field,
    lists_are_paged_by_keyset,
    buyers_save_visible_gigs,
    seller_summaries_come_from_profile_events,
    ratings_come_from_review_events,
    concurrent_changes_get_one_version_each,
    a_suspended_sellers_gigs_are_hidden_from_buyers,
);
