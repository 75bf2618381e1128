//! UpdateMyProfile: the update mask picks the fields, no-ops emit nothing, and every bad field
//! is named at once.

use gigmesh_proto::users::{
    Language, Proficiency, Profile, ProfileChanged, UpdateMyProfileRequest,
};
use gigmesh_testing::{Backend, signed_in, violated_fields};

use crate::support::{TestUsers, decoded, event_types};

gigmesh_testing::on_sqlite_and_postgres!(
    update_changes_exactly_the_masked_fields,
    invalid_profile_updates_name_every_bad_field,
    huge_unknown_values_are_not_echoed_back_in_full,
);

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

async fn huge_unknown_values_are_not_echoed_back_in_full(backend: Backend) {
    let mut users = TestUsers::start(backend).await;
    let ada = users.register("ada").await;
    let huge_path = "p".repeat(1024 * 1024);
    let status = users
        .update_profile(&ada, Profile::default(), &["bio", &huge_path])
        .await
        .expect_err("unknown path");
    assert_eq!(violated_fields(&status), ["update_mask"]);
    assert_short(&status);
    assert!(status.message().contains("pppp"), "{}", status.message());

    let many_paths: Vec<String> = (0..20_000).map(|n| format!("unknown_{n}")).collect();
    let many_paths: Vec<&str> = many_paths.iter().map(String::as_str).collect();
    let status = users
        .update_profile(&ada, Profile::default(), &many_paths)
        .await
        .expect_err("unknown paths");
    assert_eq!(violated_fields(&status), ["update_mask"]);
    assert_short(&status);

    let status = users
        .update_profile(
            &ada,
            Profile {
                country: "x".repeat(1024 * 1024),
                ..Profile::default()
            },
            &["country"],
        )
        .await
        .expect_err("unknown country");
    assert_eq!(violated_fields(&status), ["profile.country"]);
    assert_short(&status);
}

/// Asserts that the message (and every field violation) is a few hundred bytes at most.
fn assert_short(status: &tonic::Status) {
    assert!(
        status.message().len() < 400,
        "{} bytes: {}…",
        status.message().len(),
        &status.message()[..100]
    );
}
