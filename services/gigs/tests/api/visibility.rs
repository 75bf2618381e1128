//! Who sees a gig in which state, by id and by slug, and who may change it.

use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::{
    CreateGigRequest, GetGigRequest, Gig, ModerationAction, PauseGigRequest,
};
use gigmesh_testing::{Backend, TestUser, signed_in, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestGigs, complete_gig};

gigmesh_testing::on_sqlite_and_postgres!(
    visibility_depends_on_state_and_caller,
    only_the_owner_changes_a_gig,
);

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
        viewers: &[(&str, Option<&TestUser>)],
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
