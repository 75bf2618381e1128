//! Buyers save the gigs they can see, page through them and unsave them.

use gigmesh_proto::gigs::{ListSavedGigsRequest, UnsaveGigRequest};
use gigmesh_testing::{Backend, signed_in, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestGigs, complete_gig, ids};

gigmesh_testing::on_sqlite_and_postgres!(buyers_save_visible_gigs,);

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
