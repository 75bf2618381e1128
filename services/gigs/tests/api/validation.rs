//! Bad input to CreateGig, UpdateGig and PublishGig names every violated field.

use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::{
    CreateGigRequest, Extra, Gig, MediaKind, PackageTier, Requirement, RequirementKind,
};
use gigmesh_proto::types::Money;
use gigmesh_testing::{Backend, signed_in, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestGigs, complete_gig, ids, image, package, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    bad_input_names_the_field,
    huge_values_are_not_echoed_back_in_full,
);

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

async fn huge_values_are_not_echoed_back_in_full(backend: Backend) {
    let mut gigs = TestGigs::start(backend).await;
    let seller = gigs.seller();
    let huge = |letter: &str| letter.repeat(1024 * 1024);

    let status = gigs
        .get(None, GigKey::Slug("s".repeat(3 * 1024 * 1024)))
        .await
        .expect_err("unknown slug");
    assert_eq!(status.code(), Code::NotFound);
    assert_short(&status);
    assert!(status.message().contains("ssss"), "{}", status.message());

    let mut cases: Vec<(Gig, &str)> = Vec::new();
    cases.push((
        Gig {
            category_id: huge("c"),
            subcategory_id: String::new(),
            ..complete_gig("A valid title for the gig")
        },
        "gig.category_id",
    ));
    cases.push((
        Gig {
            subcategory_id: huge("c"),
            ..complete_gig("A valid title for the gig")
        },
        "gig.subcategory_id",
    ));
    let mut gig = complete_gig("A valid title for the gig");
    for package in &mut gig.packages {
        package.price = Some(Money {
            amount_minor: 5_000,
            currency: huge("c"),
        });
    }
    cases.push((gig, "gig.packages[0].price.currency"));
    for (gig, field) in cases {
        let status = gigs.create(&seller, gig).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            violated_fields(&status).iter().any(|name| name == field),
            "{field}"
        );
        assert_short(&status);
    }

    let gig = gigs
        .create(&seller, complete_gig("A valid title for the gig"))
        .await
        .expect("valid");
    let huge_path = huge("p");
    let many_paths: Vec<String> = (0..20_000).map(|n| format!("unknown_{n}")).collect();
    let many_paths: Vec<&str> = many_paths.iter().map(String::as_str).collect();
    for paths in [vec!["title", huge_path.as_str()], many_paths] {
        let status = gigs
            .update(
                &seller,
                Gig {
                    id: gig.id.clone(),
                    ..Gig::default()
                },
                &paths,
            )
            .await
            .expect_err("unknown path");
        assert_eq!(violated_fields(&status), ["update_mask"]);
        assert_short(&status);
    }
}

/// Asserts that the message is a few hundred bytes at most: each echoed value is a prefix.
fn assert_short(status: &tonic::Status) {
    assert!(
        status.message().len() < 1_000,
        "{} bytes: {}…",
        status.message().len(),
        &status.message()[..100]
    );
}
