//! The identity flow every end-to-end test runs through the gateway, whatever the mode and
//! the protocol.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gigmesh_proto::auth::{self, Role};
use gigmesh_proto::users;
use tonic::Code;

use super::mail::wait_for_mail;
use super::rpc::Rpc;

const SIGN_UP: &str = "/gigmesh.auth.v1.AuthService/SignUp";
const VERIFY_EMAIL: &str = "/gigmesh.auth.v1.AuthService/VerifyEmail";
const LOG_IN: &str = "/gigmesh.auth.v1.AuthService/LogIn";
const REFRESH: &str = "/gigmesh.auth.v1.AuthService/RefreshToken";
const LOG_OUT: &str = "/gigmesh.auth.v1.AuthService/LogOut";
const GET_MY_ACCOUNT: &str = "/gigmesh.auth.v1.AuthService/GetMyAccount";
const SUSPEND: &str = "/gigmesh.auth.v1.AuthService/SuspendAccount";
const UNSUSPEND: &str = "/gigmesh.auth.v1.AuthService/UnsuspendAccount";
const GET_MY_PROFILE: &str = "/gigmesh.users.v1.UserService/GetMyProfile";
const BECOME_SELLER: &str = "/gigmesh.users.v1.UserService/BecomeSeller";
const UPDATE_SELLER: &str = "/gigmesh.users.v1.UserService/UpdateMySellerProfile";

/// A fresh, unique account.
pub struct NewAccount {
    pub email: String,
    pub username: String,
    pub password: String,
}

impl NewAccount {
    pub fn unique(prefix: &str) -> Self {
        let suffix = &uuid::Uuid::now_v7().simple().to_string()[20..];
        Self {
            email: format!("{prefix}.{suffix}@example.com"),
            username: format!("{prefix}_{suffix}"),
            password: "correct horse battery".to_owned(),
        }
    }
}

/// Roles carried by an access token (read from its payload, as a client would).
pub fn token_roles(access_token: &str) -> Vec<String> {
    let payload = access_token.split('.').nth(1).expect("a JWT has a payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("payload is base64url");
    let claims: serde_json::Value = serde_json::from_slice(&json).expect("payload is JSON");
    claims["roles"]
        .as_array()
        .expect("roles claim")
        .iter()
        .map(|role| role.as_str().unwrap_or_default().to_owned())
        .collect()
}

pub async fn log_in(rpc: &Rpc, login: &str, password: &str) -> auth::LogInResponse {
    rpc.call(
        LOG_IN,
        auth::LogInRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        },
        None,
    )
    .await
    .unwrap_or_else(|status| panic!("log in as {login} failed: {status:?}"))
}

/// Signs up, verifies by the mailed token and logs in; returns the log-in response.
pub async fn sign_up_and_verify(
    rpc: &Rpc,
    mail_directory: &Path,
    account: &NewAccount,
) -> auth::LogInResponse {
    let signed_up: auth::SignUpResponse = rpc
        .call(
            SIGN_UP,
            auth::SignUpRequest {
                email: account.email.clone(),
                username: account.username.clone(),
                password: account.password.clone(),
            },
            None,
        )
        .await
        .expect("sign up");
    let created = signed_up.account.expect("account in the response");
    assert_eq!(created.email, account.email);
    assert!(!created.email_verified);
    assert_eq!(created.roles, vec![Role::Buyer as i32]);

    let mail = wait_for_mail(mail_directory, &account.email, "verify").await;
    assert!(
        mail.raw.contains("text/html") && mail.raw.contains("text/plain"),
        "mail has HTML and text parts"
    );
    let token = mail.token().expect("verification token in the mail");
    let _: auth::VerifyEmailResponse = rpc
        .call(
            VERIFY_EMAIL,
            auth::VerifyEmailRequest {
                token: token.clone(),
            },
            None,
        )
        .await
        .expect("verify email");
    let reused = rpc
        .call::<_, auth::VerifyEmailResponse>(
            VERIFY_EMAIL,
            auth::VerifyEmailRequest { token },
            None,
        )
        .await
        .expect_err("a verification token is single-use");
    assert_ne!(reused.code(), Code::Internal);

    log_in(rpc, &account.username, &account.password).await
}

/// Polls until the users service has the profile created from auth's event.
pub async fn wait_for_profile(rpc: &Rpc, access_token: &str) -> users::Profile {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rpc
            .call::<_, users::Profile>(
                GET_MY_PROFILE,
                users::GetMyProfileRequest {},
                Some(access_token),
            )
            .await
        {
            Ok(profile) => return profile,
            Err(status) if status.code() == Code::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("profile never appeared: {status:?}"),
        }
    }
}

/// The whole identity flow of the issue: sign up, mail, verify, log in by username and
/// email, a signed-in call, refresh, reuse of a spent refresh token, log out, become seller.
pub async fn identity_flow(rpc: &Rpc, mail_directory: &Path) {
    let account = NewAccount::unique(match rpc.protocol() {
        super::rpc::Protocol::Grpc => "native",
        super::rpc::Protocol::GrpcWeb => "web",
    });
    let by_username = sign_up_and_verify(rpc, mail_directory, &account).await;
    let by_email = log_in(rpc, &account.email.to_uppercase(), &account.password).await;
    let tokens = by_email.tokens.expect("tokens");
    assert_eq!(
        by_username.account.as_ref().map(|a| a.id.clone()),
        by_email.account.as_ref().map(|a| a.id.clone())
    );

    // A signed-in call.
    let me: auth::Account = rpc
        .call(
            GET_MY_ACCOUNT,
            auth::GetMyAccountRequest {},
            Some(&tokens.access_token),
        )
        .await
        .expect("get my account");
    assert_eq!(me.username, account.username);
    assert!(me.email_verified);
    let profile = wait_for_profile(rpc, &tokens.access_token).await;
    assert_eq!(profile.username, account.username);

    // Refresh rotates; the spent token is refused and its whole family revoked.
    let refreshed: auth::RefreshTokenResponse = rpc
        .call(
            REFRESH,
            auth::RefreshTokenRequest {
                refresh_token: tokens.refresh_token.clone(),
            },
            None,
        )
        .await
        .expect("refresh");
    let rotated = refreshed.tokens.expect("tokens");
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    let reuse = rpc
        .call::<_, auth::RefreshTokenResponse>(
            REFRESH,
            auth::RefreshTokenRequest {
                refresh_token: tokens.refresh_token.clone(),
            },
            None,
        )
        .await
        .expect_err("a spent refresh token is refused");
    assert_eq!(reuse.code(), Code::Unauthenticated, "{reuse:?}");
    let family = rpc
        .call::<_, auth::RefreshTokenResponse>(
            REFRESH,
            auth::RefreshTokenRequest {
                refresh_token: rotated.refresh_token.clone(),
            },
            None,
        )
        .await
        .expect_err("reuse revoked the whole family");
    assert_eq!(family.code(), Code::Unauthenticated, "{family:?}");

    // Log out ends the session.
    let session = log_in(rpc, &account.username, &account.password)
        .await
        .tokens
        .expect("tokens");
    let _: auth::LogOutResponse = rpc
        .call(LOG_OUT, auth::LogOutRequest {}, Some(&session.access_token))
        .await
        .expect("log out");
    let after_logout = rpc
        .call::<_, auth::RefreshTokenResponse>(
            REFRESH,
            auth::RefreshTokenRequest {
                refresh_token: session.refresh_token,
            },
            None,
        )
        .await
        .expect_err("a logged-out session cannot refresh");
    assert_eq!(after_logout.code(), Code::Unauthenticated);

    // Become a seller: after a refresh the token carries the seller role.
    let session = log_in(rpc, &account.username, &account.password)
        .await
        .tokens
        .expect("tokens");
    let seller_profile = users::SellerProfile {
        description: "I build fast, tested Rust services.".to_owned(),
        skills: vec!["rust".to_owned(), "grpc".to_owned()],
        ..Default::default()
    };
    let denied = rpc
        .call::<_, users::Profile>(
            UPDATE_SELLER,
            users::UpdateMySellerProfileRequest {
                seller: Some(seller_profile.clone()),
            },
            Some(&session.access_token),
        )
        .await
        .expect_err("a buyer is not a seller yet");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let became: users::Profile = rpc
        .call(
            BECOME_SELLER,
            users::BecomeSellerRequest {
                seller: Some(seller_profile.clone()),
            },
            Some(&session.access_token),
        )
        .await
        .expect("become seller");
    assert!(became.is_seller);
    let seller_tokens = refresh_until_role(rpc, session.refresh_token, "seller").await;
    let _: users::Profile = rpc
        .call(
            UPDATE_SELLER,
            users::UpdateMySellerProfileRequest {
                seller: Some(seller_profile),
            },
            Some(&seller_tokens.access_token),
        )
        .await
        .expect("a seller may update the seller profile");
}

/// Refreshes (rotating each time) until the access token carries `role`.
pub async fn refresh_until_role(rpc: &Rpc, mut refresh_token: String, role: &str) -> auth::Tokens {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let refreshed: auth::RefreshTokenResponse = rpc
            .call(
                REFRESH,
                auth::RefreshTokenRequest {
                    refresh_token: refresh_token.clone(),
                },
                None,
            )
            .await
            .expect("refresh");
        let tokens = refreshed.tokens.expect("tokens");
        if token_roles(&tokens.access_token)
            .iter()
            .any(|held| held == role)
        {
            return tokens;
        }
        assert!(
            Instant::now() < deadline,
            "the {role} role never reached the token"
        );
        refresh_token = tokens.refresh_token;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bad input and bad credentials get the right code, never INTERNAL.
pub async fn rejections(rpc: &Rpc, mail_directory: &Path) {
    let account = NewAccount::unique("reject");
    let login = sign_up_and_verify(rpc, mail_directory, &account).await;
    let access_token = login.tokens.expect("tokens").access_token;

    let wrong_password = rpc
        .call::<_, auth::LogInResponse>(
            LOG_IN,
            auth::LogInRequest {
                login: account.username.clone(),
                password: "wrong password!".to_owned(),
            },
            None,
        )
        .await
        .expect_err("wrong password");
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    let unknown = rpc
        .call::<_, auth::LogInResponse>(
            LOG_IN,
            auth::LogInRequest {
                login: "nobody_at_all".to_owned(),
                password: "whatever password".to_owned(),
            },
            None,
        )
        .await
        .expect_err("unknown account");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(
        unknown.message(),
        wrong_password.message(),
        "unknown and wrong look the same"
    );

    let fresh = NewAccount::unique("bad");
    for (request, field) in [
        (
            auth::SignUpRequest {
                email: "not-an-email".into(),
                username: fresh.username.clone(),
                password: fresh.password.clone(),
            },
            "email",
        ),
        (
            auth::SignUpRequest {
                email: fresh.email.clone(),
                username: fresh.username.clone(),
                password: "x".into(),
            },
            "password",
        ),
        (
            auth::SignUpRequest {
                email: fresh.email.clone(),
                username: "u".repeat(10_000),
                password: fresh.password.clone(),
            },
            "username",
        ),
        (auth::SignUpRequest::default(), "email"),
    ] {
        let status = rpc
            .call::<_, auth::SignUpResponse>(SIGN_UP, request, None)
            .await
            .expect_err("invalid sign-up");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(field),
            "{field} named in {:?}",
            status.message()
        );
    }
    // Nothing was half-written: the fresh account can still sign up.
    let _: auth::SignUpResponse = rpc
        .call(
            SIGN_UP,
            auth::SignUpRequest {
                email: fresh.email,
                username: fresh.username,
                password: fresh.password,
            },
            None,
        )
        .await
        .expect("the rejected sign-ups left nothing behind");

    // Tokens: missing, malformed, foreign-signed, expired.
    let missing = rpc
        .call::<_, auth::Account>(GET_MY_ACCOUNT, auth::GetMyAccountRequest {}, None)
        .await
        .expect_err("no token");
    assert_eq!(missing.code(), Code::Unauthenticated);
    let malformed = rpc
        .call::<_, auth::Account>(
            GET_MY_ACCOUNT,
            auth::GetMyAccountRequest {},
            Some("not.a.jwt"),
        )
        .await
        .expect_err("malformed token");
    assert_eq!(malformed.code(), Code::Unauthenticated);
    let foreign = forged_token(&access_token, 15 * 60);
    let foreign_status = rpc
        .call::<_, auth::Account>(GET_MY_ACCOUNT, auth::GetMyAccountRequest {}, Some(&foreign))
        .await
        .expect_err("token signed with another key");
    assert_eq!(foreign_status.code(), Code::Unauthenticated);
    let expired = forged_token(&access_token, -3600);
    let expired_status = rpc
        .call::<_, auth::Account>(GET_MY_ACCOUNT, auth::GetMyAccountRequest {}, Some(&expired))
        .await
        .expect_err("expired token");
    assert_eq!(expired_status.code(), Code::Unauthenticated);

    // Roles and unknown methods.
    let admin_only = rpc
        .call::<_, auth::Account>(
            SUSPEND,
            auth::SuspendAccountRequest {
                account_id: uuid::Uuid::now_v7().to_string(),
                reason: "spam".into(),
            },
            Some(&access_token),
        )
        .await
        .expect_err("a buyer is not an admin");
    assert_eq!(admin_only.code(), Code::PermissionDenied);
    let unknown_method = rpc
        .call::<_, auth::Account>(
            "/gigmesh.auth.v1.AuthService/NoSuchMethod",
            auth::GetMyAccountRequest {},
            None,
        )
        .await
        .expect_err("unknown method");
    assert_eq!(unknown_method.code(), Code::Unimplemented);
}

/// A token with the claims of `template` (new expiry `lifetime_seconds` from now), signed by
/// a key the server never issued.
fn forged_token(template: &str, lifetime_seconds: i64) -> String {
    let payload = template.split('.').nth(1).expect("payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    let mut claims: gigmesh_auth::Claims = serde_json::from_slice(&json).expect("claims");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    claims.iat = now.min(now + lifetime_seconds) - 60;
    claims.exp = now + lifetime_seconds;
    let key = gigmesh_auth::SigningKey::generate();
    gigmesh_auth::TokenSigner::new(&key)
        .expect("signer")
        .sign(&claims)
        .expect("sign")
}

/// An admin suspends an account: it can no longer log in or refresh; unsuspended, it can.
pub async fn suspension(rpc: &Rpc, mail_directory: &Path, admin_login: &str, admin_password: &str) {
    let account = NewAccount::unique("suspended");
    let login = sign_up_and_verify(rpc, mail_directory, &account).await;
    let account_id = login.account.expect("account").id;
    let tokens = login.tokens.expect("tokens");
    let admin = log_in(rpc, admin_login, admin_password)
        .await
        .tokens
        .expect("tokens");

    let suspended: auth::Account = rpc
        .call(
            SUSPEND,
            auth::SuspendAccountRequest {
                account_id: account_id.clone(),
                reason: "fraud review".into(),
            },
            Some(&admin.access_token),
        )
        .await
        .expect("suspend");
    assert_eq!(suspended.state, auth::AccountState::Suspended as i32);
    let refused = rpc
        .call::<_, auth::LogInResponse>(
            LOG_IN,
            auth::LogInRequest {
                login: account.username.clone(),
                password: account.password.clone(),
            },
            None,
        )
        .await
        .expect_err("a suspended account cannot log in");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let no_refresh = rpc
        .call::<_, auth::RefreshTokenResponse>(
            REFRESH,
            auth::RefreshTokenRequest {
                refresh_token: tokens.refresh_token,
            },
            None,
        )
        .await
        .expect_err("a suspended account cannot refresh");
    assert_eq!(no_refresh.code(), Code::PermissionDenied, "{no_refresh:?}");

    let _: auth::Account = rpc
        .call(
            UNSUSPEND,
            auth::UnsuspendAccountRequest { account_id },
            Some(&admin.access_token),
        )
        .await
        .expect("unsuspend");
    log_in(rpc, &account.username, &account.password).await;
}

const LIST_CATEGORIES: &str = "/gigmesh.gigs.v1.GigService/ListCategories";
const CREATE_GIG: &str = "/gigmesh.gigs.v1.GigService/CreateGig";
const UPDATE_GIG: &str = "/gigmesh.gigs.v1.GigService/UpdateGig";
const PUBLISH_GIG: &str = "/gigmesh.gigs.v1.GigService/PublishGig";
const PAUSE_GIG: &str = "/gigmesh.gigs.v1.GigService/PauseGig";
const RESUME_GIG: &str = "/gigmesh.gigs.v1.GigService/ResumeGig";
const SEARCH_GIGS: &str = "/gigmesh.search.v1.SearchService/SearchGigs";
const SUGGEST_GIGS: &str = "/gigmesh.search.v1.SearchService/SuggestGigs";

/// A signed-in seller: signs up, verifies, becomes a seller and refreshes until the token
/// carries the role.
pub async fn new_seller(rpc: &Rpc, mail_directory: &Path, prefix: &str) -> auth::Tokens {
    let account = NewAccount::unique(prefix);
    let tokens = sign_up_and_verify(rpc, mail_directory, &account)
        .await
        .tokens
        .expect("tokens");
    wait_for_profile(rpc, &tokens.access_token).await;
    let _: users::Profile = rpc
        .call(
            BECOME_SELLER,
            users::BecomeSellerRequest {
                seller: Some(users::SellerProfile {
                    description: "Design and code, delivered on time.".to_owned(),
                    skills: vec!["design".to_owned()],
                    ..Default::default()
                }),
            },
            Some(&tokens.access_token),
        )
        .await
        .expect("become seller");
    refresh_until_role(rpc, tokens.refresh_token, "seller").await
}

fn usd(amount_minor: i64) -> Option<gigmesh_proto::types::Money> {
    Some(gigmesh_proto::types::Money {
        amount_minor,
        currency: "USD".to_owned(),
    })
}

/// A complete gig in `category`/`subcategory` with a basic package.
pub fn complete_gig(
    title: &str,
    tags: &[&str],
    category: &str,
    subcategory: &str,
    price_minor: i64,
    delivery_days: i32,
) -> gigmesh_proto::gigs::Gig {
    use gigmesh_proto::gigs;
    gigs::Gig {
        title: title.to_owned(),
        description: format!("{title}. Clear communication, fast delivery, unlimited care."),
        category_id: category.to_owned(),
        subcategory_id: subcategory.to_owned(),
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "Basic".to_owned(),
            description: "The essentials".to_owned(),
            price: usd(price_minor),
            delivery_days,
            revisions: 2,
            features: vec!["source files".to_owned()],
        }],
        gallery: vec![gigs::GalleryItem {
            kind: gigs::MediaKind::Image as i32,
            url: "https://cdn.example.com/cover.png".to_owned(),
            cover: true,
        }],
        ..Default::default()
    }
}

/// Searches until `accept` holds for the answer, for at most `within`.
pub async fn search_until(
    rpc: &Rpc,
    request: gigmesh_proto::search::SearchGigsRequest,
    within: Duration,
    accept: impl Fn(&gigmesh_proto::search::SearchGigsResponse) -> bool,
) -> gigmesh_proto::search::SearchGigsResponse {
    let deadline = Instant::now() + within;
    loop {
        let response: gigmesh_proto::search::SearchGigsResponse = rpc
            .call(SEARCH_GIGS, request.clone(), None)
            .await
            .expect("search");
        if accept(&response) {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "search {:?} never gave the expected answer; last: {response:?}",
            request.query
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finds(response: &gigmesh_proto::search::SearchGigsResponse, gig_id: &str) -> bool {
    response.gigs.iter().any(|gig| gig.gig_id == gig_id)
}

/// The marketplace's shop window through the gateway: a seller publishes three gigs; a
/// buyer finds each by keyword and with a typo; filters combine and facets match; the
/// typed prefix is suggested; pausing hides a gig within a second and resuming brings it
/// back; another seller cannot edit it.
pub async fn gigs_and_search_flow(rpc: &Rpc, mail_directory: &Path, visibility: Duration) {
    use gigmesh_proto::{gigs, search};

    let categories: gigs::ListCategoriesResponse = rpc
        .call(LIST_CATEGORIES, gigs::ListCategoriesRequest {}, None)
        .await
        .expect("categories");
    let category = categories.categories.first().expect("a taxonomy").clone();
    let subcategory = category
        .subcategories
        .first()
        .expect("subcategories")
        .id
        .clone();
    let other = categories
        .categories
        .get(1)
        .expect("a second category")
        .clone();
    let other_subcategory = other
        .subcategories
        .first()
        .expect("subcategories")
        .id
        .clone();

    let seller = new_seller(rpc, mail_directory, "seller").await;
    let marker = &uuid::Uuid::now_v7().simple().to_string()[24..];
    let drafts = [
        complete_gig(
            &format!("Minimalist logo design {marker}"),
            &["logo", "branding"],
            &category.id,
            &subcategory,
            4_000,
            3,
        ),
        complete_gig(
            &format!("Wordpress website repair {marker}"),
            &["wordpress", "website"],
            &category.id,
            &subcategory,
            12_000,
            7,
        ),
        complete_gig(
            &format!("Podcast audio mastering {marker}"),
            &["podcast", "audio"],
            &other.id,
            &other_subcategory,
            2_500,
            1,
        ),
    ];
    let mut published = Vec::new();
    for draft in drafts {
        let created: gigs::Gig = rpc
            .call(
                CREATE_GIG,
                gigs::CreateGigRequest { gig: Some(draft) },
                Some(&seller.access_token),
            )
            .await
            .expect("create gig");
        let live: gigs::Gig = rpc
            .call(
                PUBLISH_GIG,
                gigs::PublishGigRequest {
                    gig_id: created.id.clone(),
                },
                Some(&seller.access_token),
            )
            .await
            .expect("publish gig");
        assert_eq!(live.state, gigs::GigState::Active as i32);
        published.push(live);
    }

    // Each is found by keyword, and with a one-letter typo.
    for (gig, typo) in published.iter().zip(["minimalst", "wordpres", "podcsat"]) {
        for query in [gig.title.clone(), format!("{typo} {marker}")] {
            let request = search::SearchGigsRequest {
                query: query.clone(),
                ..Default::default()
            };
            search_until(rpc, request, Duration::from_secs(10), |response| {
                finds(response, &gig.id)
            })
            .await;
        }
    }

    // Filters combine and the facets match the results.
    let filtered = search::SearchGigsRequest {
        query: marker.to_owned(),
        category_id: category.id.clone(),
        min_price_minor: Some(3_000),
        max_price_minor: Some(20_000),
        currency: "USD".to_owned(),
        max_delivery_days: 5,
        min_rating: 0.0,
        ..Default::default()
    };
    let response = search_until(rpc, filtered, Duration::from_secs(5), |response| {
        response.total_size == 1
    })
    .await;
    assert_eq!(response.gigs[0].gig_id, published[0].id);
    let facets = response.facets.expect("facets");
    let in_category: i64 = facets
        .categories
        .iter()
        .filter(|facet| facet.value == category.id)
        .map(|facet| facet.count)
        .sum();
    assert_eq!(in_category, 1, "{facets:?}");
    let priced: i64 = facets.price_buckets.iter().map(|bucket| bucket.count).sum();
    assert_eq!(priced, response.total_size, "{facets:?}");
    let strict = search::SearchGigsRequest {
        query: marker.to_owned(),
        min_rating: 4.0,
        ..Default::default()
    };
    let unrated: search::SearchGigsResponse =
        rpc.call(SEARCH_GIGS, strict, None).await.expect("search");
    assert_eq!(unrated.total_size, 0, "no gig is rated yet");

    // Autocomplete from the first letters.
    let suggestions: search::SuggestGigsResponse = rpc
        .call(
            SUGGEST_GIGS,
            search::SuggestGigsRequest {
                prefix: "minimalist lo".to_owned(),
                page_size: 20,
            },
            None,
        )
        .await
        .expect("suggest");
    assert!(
        suggestions
            .suggestions
            .iter()
            .any(|suggestion| suggestion.gig_id == published[0].id),
        "{suggestions:?}"
    );

    // Pausing hides the gig promptly; resuming brings it back.
    let by_title = search::SearchGigsRequest {
        query: published[1].title.clone(),
        ..Default::default()
    };
    let _: gigs::Gig = rpc
        .call(
            PAUSE_GIG,
            gigs::PauseGigRequest {
                gig_id: published[1].id.clone(),
            },
            Some(&seller.access_token),
        )
        .await
        .expect("pause");
    search_until(rpc, by_title.clone(), visibility, |response| {
        !finds(response, &published[1].id)
    })
    .await;
    let _: gigs::Gig = rpc
        .call(
            RESUME_GIG,
            gigs::ResumeGigRequest {
                gig_id: published[1].id.clone(),
            },
            Some(&seller.access_token),
        )
        .await
        .expect("resume");
    search_until(rpc, by_title, visibility, |response| {
        finds(response, &published[1].id)
    })
    .await;

    // Another seller cannot edit it.
    let intruder = new_seller(rpc, mail_directory, "intruder").await;
    let mut changed = published[0].clone();
    changed.title = "A title that is not mine to set".to_owned();
    let denied = rpc
        .call::<_, gigs::Gig>(
            UPDATE_GIG,
            gigs::UpdateGigRequest {
                gig: Some(changed),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".to_owned()],
                }),
            },
            Some(&intruder.access_token),
        )
        .await
        .expect_err("not the owner");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
}
