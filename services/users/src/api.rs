//! `gigmesh.users.v1.UserService`: parses requests into domain values, runs the domain
//! transition in a transaction with its events, and answers in proto types. No SQL here.

use gigmesh_db::Db;
use gigmesh_errors::FieldViolation;
use gigmesh_grpc::Caller;
use gigmesh_proto::users as proto;
use gigmesh_proto::users::get_public_profile_request::User as PublicProfileKey;
use gigmesh_proto::users::user_service_server::UserService;
use gigmesh_types::{UserId, now_millis, timestamp_from_millis};
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{
    self, Certification, CountryCode, Education, HttpsUrl, Language, LanguageCode, Lines, Outcome,
    PortfolioItem, Proficiency, Profile, ProfileChanges, ProfileField, SellerDetails,
    SellerProfile,
};
use crate::error::UsersError;
use crate::events;
use crate::store::{self, StoredProfile};

/// How often a read-modify-write of one profile is tried when other writes race it.
const MAX_CHANGE_ATTEMPTS: usize = 3;

/// The user service over its database.
#[derive(Clone)]
pub struct UserApi {
    db: Db,
}

impl UserApi {
    /// The service over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Loads the caller's profile, lets `change` transform it, and writes it back together
    /// with its events. A change that alters nothing writes nothing and emits nothing.
    async fn change_profile<F>(&self, user_id: UserId, mut change: F) -> Result<Profile, UsersError>
    where
        F: FnMut(&mut Profile, i64) -> Result<ProfileEffect, UsersError> + Send,
    {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let mut tx = self.db.begin().await?;
            let Some(StoredProfile {
                mut profile,
                version,
            }) = store::find_by_user_id(&mut *tx, user_id).await?
            else {
                return Err(UsersError::ProfileBeingCreated);
            };
            let effect = change(&mut profile, now_millis())?;
            if effect == ProfileEffect::None {
                return Ok(profile);
            }
            if !store::update_profile(&mut tx, &profile, version).await? {
                tracing::debug!("profile changed concurrently, retrying");
                continue;
            }
            if effect == ProfileEffect::BecameSeller {
                events::record_seller_activated(&mut tx, &profile).await?;
            }
            events::record_profile_changed(&mut tx, &profile).await?;
            tx.commit().await.map_err(gigmesh_db::DbError::from)?;
            return Ok(profile);
        }
        Err(UsersError::ConcurrentChange)
    }
}

/// Which events a change of the profile causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProfileEffect {
    /// Nothing changed.
    None,
    /// The profile changed (ProfileChanged).
    Changed,
    /// The user became a seller (SellerActivated and ProfileChanged).
    BecameSeller,
}

impl From<Outcome> for ProfileEffect {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Changed => ProfileEffect::Changed,
            Outcome::Unchanged => ProfileEffect::None,
        }
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    #[instrument(skip_all, fields(user_id))]
    async fn get_my_profile(
        &self,
        request: Request<proto::GetMyProfileRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let stored = store::find_by_user_id(self.db.pool(), user_id)
            .await
            .map_err(UsersError::from)?
            .ok_or(UsersError::ProfileBeingCreated)?;
        Ok(Response::new(profile_to_proto(&stored.profile)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn update_my_profile(
        &self,
        request: Request<proto::UpdateMyProfileRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let changes = parse_profile_changes(request.into_inner())?;
        let profile = self
            .change_profile(user_id, |profile, now| {
                profile
                    .update(changes.clone(), now)
                    .map(ProfileEffect::from)
            })
            .await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn become_seller(
        &self,
        request: Request<proto::BecomeSellerRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let details = parse_seller_details(request.into_inner().seller, current_year())?;
        let profile = self
            .change_profile(user_id, |profile, now| {
                profile.become_seller(details.clone(), now)?;
                Ok(ProfileEffect::BecameSeller)
            })
            .await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn update_my_seller_profile(
        &self,
        request: Request<proto::UpdateMySellerProfileRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let details = parse_seller_details(request.into_inner().seller, current_year())?;
        let profile = self
            .change_profile(user_id, |profile, now| {
                profile
                    .replace_seller_details(details.clone(), now)
                    .map(ProfileEffect::from)
            })
            .await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all)]
    async fn get_public_profile(
        &self,
        request: Request<proto::GetPublicProfileRequest>,
    ) -> Result<Response<proto::PublicProfile>, Status> {
        let (stored, not_found) = match request.into_inner().user {
            Some(PublicProfileKey::UserId(raw)) => {
                let user_id = parse_user_id("user_id", &raw)?;
                let stored = store::find_by_user_id(self.db.pool(), user_id).await;
                (stored, format!("no profile for user {user_id}"))
            }
            Some(PublicProfileKey::Username(raw)) => {
                let username = raw.trim();
                if username.is_empty() {
                    return Err(invalid("username", "is required").into());
                }
                let stored = store::find_by_username(self.db.pool(), username).await;
                (stored, format!("no profile with username {username:?}"))
            }
            None => {
                return Err(invalid("user", "set either user_id or username").into());
            }
        };
        // A suspended profile is hidden: to the public it does not exist.
        let profile = stored
            .map_err(UsersError::from)?
            .map(|stored| stored.profile)
            .filter(|profile| !profile.suspended)
            .ok_or(UsersError::ProfileNotFound(not_found))?;
        Ok(Response::new(public_profile_to_proto(&profile)))
    }
}

fn parse_user_id(field: &str, raw: &str) -> Result<UserId, UsersError> {
    if raw.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    Uuid::parse_str(raw.trim())
        .map(UserId::from)
        .map_err(|_| invalid(field, "must be a UUID"))
}

fn invalid(field: &str, description: &str) -> UsersError {
    UsersError::InvalidArgument(vec![FieldViolation::new(field, description)])
}

fn current_year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

/// Collects every field violation of a request, so the caller learns about all at once.
#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn keep<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.0.push(violation);
                None
            }
        }
    }

    fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    fn finish<T>(self, value: T) -> Result<T, UsersError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(UsersError::InvalidArgument(self.0))
        }
    }
}

fn parse_profile_changes(
    request: proto::UpdateMyProfileRequest,
) -> Result<ProfileChanges, UsersError> {
    let mut violations = Violations::default();
    let mask_paths = request
        .update_mask
        .map(|mask| mask.paths)
        .unwrap_or_default();
    let fields = violations
        .keep(domain::parse_update_mask("update_mask", &mask_paths))
        .unwrap_or_default();
    let Some(profile) = request.profile else {
        violations.add("profile", "is required");
        return violations.finish(ProfileChanges::default());
    };
    let mut changes = ProfileChanges::default();
    for field in fields {
        match field {
            ProfileField::DisplayName => {
                changes.display_name = violations.keep(domain::parse_text(
                    "profile.display_name",
                    &profile.display_name,
                    1,
                    domain::MAX_DISPLAY_NAME_CHARS,
                    Lines::Single,
                ));
            }
            ProfileField::Bio => {
                changes.bio = violations.keep(domain::parse_text(
                    "profile.bio",
                    &profile.bio,
                    0,
                    domain::MAX_BIO_CHARS,
                    Lines::Multiple,
                ));
            }
            ProfileField::Country => {
                changes.country = if profile.country.trim().is_empty() {
                    Some(None)
                } else {
                    violations
                        .keep(CountryCode::parse("profile.country", &profile.country))
                        .map(Some)
                };
            }
            ProfileField::Languages => {
                changes.languages = parse_languages(&profile.languages, &mut violations);
            }
            ProfileField::AvatarUrl => {
                changes.avatar_url = if profile.avatar_url.trim().is_empty() {
                    Some(None)
                } else {
                    violations
                        .keep(HttpsUrl::parse("profile.avatar_url", &profile.avatar_url))
                        .map(Some)
                };
            }
        }
    }
    violations.finish(changes)
}

fn parse_languages(
    languages: &[proto::Language],
    violations: &mut Violations,
) -> Option<Vec<Language>> {
    const FIELD: &str = "profile.languages";
    violations.keep(domain::check_count(FIELD, languages, domain::MAX_LANGUAGES))?;
    let mut parsed = Vec::with_capacity(languages.len());
    let mut all_valid = true;
    for (index, language) in languages.iter().enumerate() {
        let code = violations.keep(LanguageCode::parse(
            &format!("{FIELD}[{index}].code"),
            &language.code,
        ));
        let proficiency = violations.keep(parse_proficiency(
            &format!("{FIELD}[{index}].proficiency"),
            language.proficiency,
        ));
        match (code, proficiency) {
            (Some(code), Some(proficiency)) => parsed.push(Language { code, proficiency }),
            _ => all_valid = false,
        }
    }
    if !all_valid {
        return None;
    }
    violations.keep(domain::check_languages(FIELD, &parsed))?;
    Some(parsed)
}

fn parse_proficiency(field: &str, raw: i32) -> Result<Proficiency, FieldViolation> {
    match proto::Proficiency::try_from(raw) {
        Ok(proto::Proficiency::Basic) => Ok(Proficiency::Basic),
        Ok(proto::Proficiency::Conversational) => Ok(Proficiency::Conversational),
        Ok(proto::Proficiency::Fluent) => Ok(Proficiency::Fluent),
        Ok(proto::Proficiency::Native) => Ok(Proficiency::Native),
        Ok(proto::Proficiency::Unspecified) | Err(_) => Err(FieldViolation::new(
            field,
            "must be one of PROFICIENCY_BASIC, PROFICIENCY_CONVERSATIONAL, PROFICIENCY_FLUENT, \
             PROFICIENCY_NATIVE",
        )),
    }
}

fn parse_seller_details(
    seller: Option<proto::SellerProfile>,
    current_year: i32,
) -> Result<SellerDetails, UsersError> {
    let mut violations = Violations::default();
    let Some(seller) = seller else {
        violations.add("seller", "is required");
        return Err(UsersError::InvalidArgument(violations.0));
    };
    let description = violations.keep(domain::parse_text(
        "seller.description",
        &seller.description,
        domain::MIN_SELLER_DESCRIPTION_CHARS,
        domain::MAX_SELLER_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let skills = parse_skills(&seller.skills, &mut violations);
    let portfolio = parse_list(
        "seller.portfolio",
        &seller.portfolio,
        domain::MAX_PORTFOLIO_ITEMS,
        &mut violations,
        parse_portfolio_item,
    );
    let education = parse_list(
        "seller.education",
        &seller.education,
        domain::MAX_EDUCATION_ENTRIES,
        &mut violations,
        |field, entry, violations| parse_education(field, entry, current_year, violations),
    );
    let certifications = parse_list(
        "seller.certifications",
        &seller.certifications,
        domain::MAX_CERTIFICATIONS,
        &mut violations,
        |field, entry, violations| parse_certification(field, entry, current_year, violations),
    );
    match (description, skills, portfolio, education, certifications) {
        (
            Some(description),
            Some(skills),
            Some(portfolio),
            Some(education),
            Some(certifications),
        ) if violations.0.is_empty() => Ok(SellerDetails {
            description,
            skills,
            portfolio,
            education,
            certifications,
        }),
        _ => Err(UsersError::InvalidArgument(violations.0)),
    }
}

fn parse_skills(skills: &[String], violations: &mut Violations) -> Option<Vec<String>> {
    const FIELD: &str = "seller.skills";
    let parsed = parse_list(
        FIELD,
        skills,
        domain::MAX_SKILLS,
        violations,
        |field, skill, violations| {
            violations.keep(domain::parse_text(
                field,
                skill,
                1,
                domain::MAX_SKILL_CHARS,
                Lines::Single,
            ))
        },
    )?;
    violations.keep(domain::check_skills(FIELD, &parsed))?;
    Some(parsed)
}

/// Parses every entry of a bounded list; `None` if the list or any entry is invalid.
fn parse_list<Raw, Parsed>(
    field: &str,
    entries: &[Raw],
    max: usize,
    violations: &mut Violations,
    mut parse_entry: impl FnMut(&str, &Raw, &mut Violations) -> Option<Parsed>,
) -> Option<Vec<Parsed>> {
    violations.keep(domain::check_count(field, entries, max))?;
    let mut parsed = Vec::with_capacity(entries.len());
    let mut all_valid = true;
    for (index, entry) in entries.iter().enumerate() {
        match parse_entry(&format!("{field}[{index}]"), entry, violations) {
            Some(value) => parsed.push(value),
            None => all_valid = false,
        }
    }
    all_valid.then_some(parsed)
}

fn parse_portfolio_item(
    field: &str,
    item: &proto::PortfolioItem,
    violations: &mut Violations,
) -> Option<PortfolioItem> {
    let title = violations.keep(domain::parse_text(
        &format!("{field}.title"),
        &item.title,
        1,
        domain::MAX_PORTFOLIO_TITLE_CHARS,
        Lines::Single,
    ));
    let description = violations.keep(domain::parse_text(
        &format!("{field}.description"),
        &item.description,
        0,
        domain::MAX_PORTFOLIO_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let url = if item.url.trim().is_empty() {
        violations.add(format!("{field}.url"), "is required");
        None
    } else {
        violations.keep(HttpsUrl::parse(&format!("{field}.url"), &item.url))
    };
    let image_url = if item.image_url.trim().is_empty() {
        Some(None)
    } else {
        violations
            .keep(HttpsUrl::parse(
                &format!("{field}.image_url"),
                &item.image_url,
            ))
            .map(Some)
    };
    Some(PortfolioItem {
        title: title?,
        description: description?,
        url: url?,
        image_url: image_url?,
    })
}

fn parse_education(
    field: &str,
    entry: &proto::Education,
    current_year: i32,
    violations: &mut Violations,
) -> Option<Education> {
    let text = |name: &str, raw: &str, min: usize, violations: &mut Violations| {
        violations.keep(domain::parse_text(
            &format!("{field}.{name}"),
            raw,
            min,
            domain::MAX_CREDENTIAL_TEXT_CHARS,
            Lines::Single,
        ))
    };
    let institution = text("institution", &entry.institution, 1, violations);
    let degree = text("degree", &entry.degree, 1, violations);
    let field_of_study = text("field", &entry.field, 0, violations);
    let year = violations.keep(domain::parse_year(
        &format!("{field}.year"),
        entry.year,
        current_year + domain::MAX_GRADUATION_YEARS_AHEAD,
    ));
    Some(Education {
        institution: institution?,
        degree: degree?,
        field: field_of_study?,
        year: year?,
    })
}

fn parse_certification(
    field: &str,
    entry: &proto::Certification,
    current_year: i32,
    violations: &mut Violations,
) -> Option<Certification> {
    let text = |name: &str, raw: &str, violations: &mut Violations| {
        violations.keep(domain::parse_text(
            &format!("{field}.{name}"),
            raw,
            1,
            domain::MAX_CREDENTIAL_TEXT_CHARS,
            Lines::Single,
        ))
    };
    let name = text("name", &entry.name, violations);
    let issuer = text("issuer", &entry.issuer, violations);
    let year = violations.keep(domain::parse_year(
        &format!("{field}.year"),
        entry.year,
        current_year,
    ));
    Some(Certification {
        name: name?,
        issuer: issuer?,
        year: year?,
    })
}

/// The owner's view.
pub(crate) fn profile_to_proto(profile: &Profile) -> proto::Profile {
    proto::Profile {
        user_id: profile.user_id.to_string(),
        username: profile.username.clone(),
        display_name: profile.display_name.clone(),
        bio: profile.bio.clone(),
        country: country_to_proto(profile),
        languages: languages_to_proto(&profile.languages),
        avatar_url: avatar_url_to_proto(profile),
        is_seller: profile.is_seller(),
        seller: profile.seller.as_ref().map(seller_to_proto),
        suspended: profile.suspended,
        create_time: Some(timestamp_from_millis(profile.created_at)),
        update_time: Some(timestamp_from_millis(profile.updated_at)),
    }
}

/// What anyone may see.
pub(crate) fn public_profile_to_proto(profile: &Profile) -> proto::PublicProfile {
    proto::PublicProfile {
        user_id: profile.user_id.to_string(),
        username: profile.username.clone(),
        display_name: profile.display_name.clone(),
        bio: profile.bio.clone(),
        country: country_to_proto(profile),
        languages: languages_to_proto(&profile.languages),
        avatar_url: avatar_url_to_proto(profile),
        is_seller: profile.is_seller(),
        seller: profile.seller.as_ref().map(seller_to_proto),
        create_time: Some(timestamp_from_millis(profile.created_at)),
    }
}

fn country_to_proto(profile: &Profile) -> String {
    profile
        .country
        .as_ref()
        .map(|country| country.as_str().to_owned())
        .unwrap_or_default()
}

fn avatar_url_to_proto(profile: &Profile) -> String {
    profile
        .avatar_url
        .as_ref()
        .map(|url| url.as_str().to_owned())
        .unwrap_or_default()
}

fn languages_to_proto(languages: &[Language]) -> Vec<proto::Language> {
    languages
        .iter()
        .map(|language| proto::Language {
            code: language.code.as_str().to_owned(),
            proficiency: proficiency_to_proto(language.proficiency) as i32,
        })
        .collect()
}

fn proficiency_to_proto(proficiency: Proficiency) -> proto::Proficiency {
    match proficiency {
        Proficiency::Basic => proto::Proficiency::Basic,
        Proficiency::Conversational => proto::Proficiency::Conversational,
        Proficiency::Fluent => proto::Proficiency::Fluent,
        Proficiency::Native => proto::Proficiency::Native,
    }
}

fn seller_to_proto(seller: &SellerProfile) -> proto::SellerProfile {
    let details = &seller.details;
    proto::SellerProfile {
        description: details.description.clone(),
        skills: details.skills.clone(),
        portfolio: details
            .portfolio
            .iter()
            .map(|item| proto::PortfolioItem {
                title: item.title.clone(),
                description: item.description.clone(),
                url: item.url.as_str().to_owned(),
                image_url: item
                    .image_url
                    .as_ref()
                    .map(|url| url.as_str().to_owned())
                    .unwrap_or_default(),
            })
            .collect(),
        education: details
            .education
            .iter()
            .map(|entry| proto::Education {
                institution: entry.institution.clone(),
                degree: entry.degree.clone(),
                field: entry.field.clone(),
                year: entry.year,
            })
            .collect(),
        certifications: details
            .certifications
            .iter()
            .map(|entry| proto::Certification {
                name: entry.name.clone(),
                issuer: entry.issuer.clone(),
                year: entry.year,
            })
            .collect(),
        seller_since_time: Some(timestamp_from_millis(seller.since)),
    }
}
