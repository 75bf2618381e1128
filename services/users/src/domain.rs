//! Profiles and the rules that change them: field limits, code lists, the seller transition
//! and suspension. Pure: no IO and no proto types. `input.rs` parses requests into these
//! types with the field checks below, `store.rs` persists them.

use std::collections::HashSet;

use gigmesh_errors::{FieldViolation, echoed_prefix};
use gigmesh_types::{HttpsUrl, UserId};
use serde::{Deserialize, Serialize};

use crate::codes;
use crate::error::UsersError;

/// Longest display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 50;
/// Longest "about me".
pub const MAX_BIO_CHARS: usize = 600;
/// Most languages a profile lists.
pub const MAX_LANGUAGES: usize = 10;
/// Shortest seller description.
pub const MIN_SELLER_DESCRIPTION_CHARS: usize = 10;
/// Longest seller description.
pub const MAX_SELLER_DESCRIPTION_CHARS: usize = 2000;
/// Most skills a seller lists.
pub const MAX_SKILLS: usize = 15;
/// Longest skill.
pub const MAX_SKILL_CHARS: usize = 40;
/// Most portfolio items.
pub const MAX_PORTFOLIO_ITEMS: usize = 20;
/// Longest portfolio item title.
pub const MAX_PORTFOLIO_TITLE_CHARS: usize = 80;
/// Longest portfolio item description.
pub const MAX_PORTFOLIO_DESCRIPTION_CHARS: usize = 1000;
/// Most education entries.
pub const MAX_EDUCATION_ENTRIES: usize = 10;
/// Most certifications.
pub const MAX_CERTIFICATIONS: usize = 10;
/// Longest institution, degree, field, certificate or issuer name.
pub const MAX_CREDENTIAL_TEXT_CHARS: usize = 120;
/// No graduation or certification before this year is believable for an active seller.
pub const EARLIEST_PLAUSIBLE_YEAR: i32 = 1940;
/// How far ahead an expected graduation year may lie.
pub const MAX_GRADUATION_YEARS_AHEAD: i32 = 10;

/// A user's profile, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The account id.
    pub user_id: UserId,
    /// The account's username (owned by auth, copied from its event).
    pub username: String,
    /// Name shown to others; never empty.
    pub display_name: String,
    /// About me; may be empty.
    pub bio: String,
    /// Country, if given.
    pub country: Option<CountryCode>,
    /// Languages spoken, without duplicates.
    pub languages: Vec<Language>,
    /// Avatar image, if given.
    pub avatar_url: Option<HttpsUrl>,
    /// Present once the user became a seller.
    pub seller: Option<SellerProfile>,
    /// Whether an admin suspended the account; a suspended profile is hidden from others.
    pub suspended: bool,
    /// When the profile was created (unix millis).
    pub created_at: i64,
    /// When the profile last changed (unix millis).
    pub updated_at: i64,
}

/// How a public profile is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileKey {
    /// By account id.
    UserId(UserId),
    /// By username, ignoring case.
    Username(String),
}

/// Whether a transition changed anything, so that a no-op writes nothing and emits no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// The profile changed.
    Changed,
    /// The profile is as it was.
    Unchanged,
}

impl Profile {
    /// The profile of a newly registered account: the display name defaults to the username.
    pub fn register(user_id: UserId, username: String, created_at: i64) -> Self {
        Self {
            user_id,
            display_name: username.clone(),
            username,
            bio: String::new(),
            country: None,
            languages: Vec::new(),
            avatar_url: None,
            seller: None,
            suspended: false,
            created_at,
            updated_at: created_at,
        }
    }

    /// Whether the user is a seller.
    pub fn is_seller(&self) -> bool {
        self.seller.is_some()
    }

    /// Whether others may see the profile: a suspended one, to the public, does not exist.
    pub fn is_public(&self) -> bool {
        !self.suspended
    }

    /// Applies a change its owner asked for.
    pub fn apply(&mut self, change: ProfileChange, now: i64) -> Result<ProfileEffect, UsersError> {
        match change {
            ProfileChange::Update(changes) => self.update(changes, now).map(ProfileEffect::from),
            ProfileChange::BecomeSeller(details) => {
                self.become_seller(details, now)?;
                Ok(ProfileEffect::BecameSeller)
            }
            ProfileChange::ReplaceSellerDetails(details) => self
                .replace_seller_details(details, now)
                .map(ProfileEffect::from),
        }
    }

    /// Applies the fields named in `changes`.
    pub fn update(&mut self, changes: ProfileChanges, now: i64) -> Result<Outcome, UsersError> {
        self.ensure_not_suspended()?;
        let before = self.clone();
        if let Some(display_name) = changes.display_name {
            self.display_name = display_name;
        }
        if let Some(bio) = changes.bio {
            self.bio = bio;
        }
        if let Some(country) = changes.country {
            self.country = country;
        }
        if let Some(languages) = changes.languages {
            self.languages = languages;
        }
        if let Some(avatar_url) = changes.avatar_url {
            self.avatar_url = avatar_url;
        }
        Ok(self.touch_if_changed(&before, now))
    }

    /// Makes the user a seller with `details`. A seller cannot become one again.
    pub fn become_seller(&mut self, details: SellerDetails, now: i64) -> Result<(), UsersError> {
        self.ensure_not_suspended()?;
        if self.is_seller() {
            return Err(UsersError::AlreadySeller);
        }
        self.seller = Some(SellerProfile {
            details,
            since: now,
            response_time: None,
        });
        self.updated_at = now;
        Ok(())
    }

    /// Replaces the seller details of a seller.
    pub fn replace_seller_details(
        &mut self,
        details: SellerDetails,
        now: i64,
    ) -> Result<Outcome, UsersError> {
        self.ensure_not_suspended()?;
        let before = self.clone();
        let Some(seller) = self.seller.as_mut() else {
            return Err(UsersError::NotSeller);
        };
        seller.details = details;
        Ok(self.touch_if_changed(&before, now))
    }

    /// Marks the profile suspended (hidden from everyone but its owner).
    pub fn suspend(&mut self, now: i64) -> Outcome {
        self.set_suspended(true, now)
    }

    /// Lifts a suspension.
    pub fn unsuspend(&mut self, now: i64) -> Outcome {
        self.set_suspended(false, now)
    }

    fn set_suspended(&mut self, suspended: bool, now: i64) -> Outcome {
        if self.suspended == suspended {
            return Outcome::Unchanged;
        }
        self.suspended = suspended;
        self.updated_at = now;
        Outcome::Changed
    }

    fn ensure_not_suspended(&self) -> Result<(), UsersError> {
        if self.suspended {
            Err(UsersError::Suspended)
        } else {
            Ok(())
        }
    }

    fn touch_if_changed(&mut self, before: &Profile, now: i64) -> Outcome {
        if self == before {
            Outcome::Unchanged
        } else {
            self.updated_at = now;
            Outcome::Changed
        }
    }
}

/// A change the owner of a profile asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileChange {
    /// UpdateMyProfile: the fields the mask named.
    Update(ProfileChanges),
    /// BecomeSeller.
    BecomeSeller(SellerDetails),
    /// UpdateMySellerProfile.
    ReplaceSellerDetails(SellerDetails),
}

/// Which events a change of the profile causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum ProfileEffect {
    /// Nothing changed: nothing is written, nothing emitted.
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

/// The fields an update names; `None` leaves a field as it is, `Some(None)` clears an
/// optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New bio.
    pub bio: Option<String>,
    /// New country, or cleared.
    pub country: Option<Option<CountryCode>>,
    /// New language list.
    pub languages: Option<Vec<Language>>,
    /// New avatar, or cleared.
    pub avatar_url: Option<Option<HttpsUrl>>,
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    /// Parses a code such as `DE` (case-insensitive); it must be an assigned code.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let code = raw.trim().to_ascii_uppercase();
        if codes::is_country_code(&code) {
            Ok(Self(code))
        } else {
            Err(FieldViolation::new(
                field,
                format!(
                    "{:?} is not an ISO 3166-1 alpha-2 country code such as \"DE\"",
                    echoed_prefix(raw)
                ),
            ))
        }
    }

    /// A code read back from storage, where only parsed codes are written.
    pub fn from_stored(code: String) -> Self {
        Self(code)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 639-1 language code, lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LanguageCode(String);

impl LanguageCode {
    /// Parses a code such as `en` (case-insensitive); it must be an ISO 639-1 code.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let code = raw.trim().to_ascii_lowercase();
        if codes::is_language_code(&code) {
            Ok(Self(code))
        } else {
            Err(FieldViolation::new(
                field,
                format!(
                    "{:?} is not an ISO 639-1 language code such as \"en\"",
                    echoed_prefix(raw)
                ),
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How well a language is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proficiency {
    /// Basic.
    Basic,
    /// Conversational.
    Conversational,
    /// Fluent.
    Fluent,
    /// Native or bilingual.
    Native,
}

/// A language the user speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Language {
    /// Which language.
    pub code: LanguageCode,
    /// How well.
    pub proficiency: Proficiency,
}

/// Checks the language list as a whole: at most [`MAX_LANGUAGES`], each code once.
pub fn check_languages(field: &str, languages: &[Language]) -> Result<(), FieldViolation> {
    if languages.len() > MAX_LANGUAGES {
        return Err(FieldViolation::new(
            field,
            format!("must list at most {MAX_LANGUAGES} languages"),
        ));
    }
    let mut seen = HashSet::new();
    for language in languages {
        if !seen.insert(language.code.as_str()) {
            return Err(FieldViolation::new(
                field,
                format!("lists {:?} more than once", language.code.as_str()),
            ));
        }
    }
    Ok(())
}

/// Checks a year against the plausible range, `EARLIEST_PLAUSIBLE_YEAR..=latest`.
pub fn parse_year(field: &str, year: i32, latest: i32) -> Result<i32, FieldViolation> {
    if year == 0 {
        return Err(FieldViolation::new(field, "is required"));
    }
    if !(EARLIEST_PLAUSIBLE_YEAR..=latest).contains(&year) {
        return Err(FieldViolation::new(
            field,
            format!("must be a year between {EARLIEST_PLAUSIBLE_YEAR} and {latest}"),
        ));
    }
    Ok(year)
}

/// Checks the skill list as a whole: at most [`MAX_SKILLS`], none twice (ignoring case).
pub fn check_skills(field: &str, skills: &[String]) -> Result<(), FieldViolation> {
    if skills.len() > MAX_SKILLS {
        return Err(FieldViolation::new(
            field,
            format!("must list at most {MAX_SKILLS} skills"),
        ));
    }
    let mut seen = HashSet::new();
    for skill in skills {
        if !seen.insert(skill.to_lowercase()) {
            return Err(FieldViolation::new(
                field,
                format!("lists {skill:?} more than once"),
            ));
        }
    }
    Ok(())
}

/// What a seller shows on top of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerProfile {
    /// The details the seller maintains.
    pub details: SellerDetails,
    /// When the user became a seller (unix millis).
    pub since: i64,
    /// How fast the seller answers, as chat measured it last; `None` before the first
    /// measure.
    pub response_time: Option<ResponseTime>,
}

/// A seller's response time, measured by chat: the median time from a buyer's first message
/// of a conversation to the seller's first reply, over the last 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseTime {
    /// The median, in seconds.
    pub median_seconds: i64,
    /// How many conversations it is over (0: no buyer wrote first in the window).
    pub conversations: i32,
}

impl ResponseTime {
    /// The sentence a profile shows, or `None` when no buyer wrote first in the window.
    pub fn summary(self) -> Option<&'static str> {
        const HOUR: i64 = 3_600;
        if self.conversations == 0 {
            return None;
        }
        Some(match self.median_seconds {
            seconds if seconds <= HOUR => "usually answers within an hour",
            seconds if seconds <= 3 * HOUR => "usually answers within a few hours",
            seconds if seconds <= 24 * HOUR => "usually answers within a day",
            _ => "usually answers in more than a day",
        })
    }
}

/// The part of the seller profile the seller writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerDetails {
    /// The seller's offer.
    pub description: String,
    /// Skills.
    pub skills: Vec<String>,
    /// Past work.
    pub portfolio: Vec<PortfolioItem>,
    /// Degrees and courses.
    pub education: Vec<Education>,
    /// Certificates.
    pub certifications: Vec<Certification>,
}

/// A piece of past work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioItem {
    /// Title.
    pub title: String,
    /// Description; may be empty.
    pub description: String,
    /// Link to the work.
    pub url: HttpsUrl,
    /// Image of the work, if any.
    pub image_url: Option<HttpsUrl>,
}

/// A degree or course.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Education {
    /// School or institution.
    pub institution: String,
    /// Degree or title.
    pub degree: String,
    /// Field of study; may be empty.
    pub field: String,
    /// Graduation year (may lie a few years ahead).
    pub year: i32,
}

/// A certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    /// Name of the certificate.
    pub name: String,
    /// Who issued it.
    pub issuer: String,
    /// Year it was obtained (not in the future).
    pub year: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile::register(UserId::new(), "ada".to_owned(), 1_000)
    }

    fn details(description: &str) -> SellerDetails {
        SellerDetails {
            description: description.to_owned(),
            skills: vec!["rust".to_owned()],
            portfolio: Vec::new(),
            education: Vec::new(),
            certifications: Vec::new(),
        }
    }

    #[test]
    fn a_new_profile_shows_the_username_as_display_name() {
        let profile = profile();
        assert_eq!(profile.display_name, "ada");
        assert!(!profile.is_seller());
        assert!(!profile.suspended);
        assert_eq!(profile.updated_at, profile.created_at);
    }

    #[test]
    fn update_changes_only_named_fields_and_detects_no_ops() {
        let mut profile = profile();
        let changes = ProfileChanges {
            bio: Some("hello".to_owned()),
            ..ProfileChanges::default()
        };
        assert_eq!(
            profile.update(changes.clone(), 2_000).unwrap(),
            Outcome::Changed
        );
        assert_eq!(profile.bio, "hello");
        assert_eq!(profile.display_name, "ada");
        assert_eq!(profile.updated_at, 2_000);
        assert_eq!(profile.update(changes, 3_000).unwrap(), Outcome::Unchanged);
        assert_eq!(profile.updated_at, 2_000);
    }

    #[test]
    fn becoming_a_seller_happens_once() {
        let mut profile = profile();
        profile
            .become_seller(details("I write Rust services."), 5_000)
            .unwrap();
        assert_eq!(profile.seller.as_ref().unwrap().since, 5_000);
        assert!(matches!(
            profile.become_seller(details("Again and again."), 6_000),
            Err(UsersError::AlreadySeller)
        ));
    }

    #[test]
    fn only_sellers_replace_seller_details() {
        let mut profile = profile();
        assert!(matches!(
            profile.replace_seller_details(details("Not a seller yet."), 2_000),
            Err(UsersError::NotSeller)
        ));
        profile
            .become_seller(details("I write Rust services."), 3_000)
            .unwrap();
        let outcome = profile
            .replace_seller_details(details("I write Go services too."), 4_000)
            .unwrap();
        assert_eq!(outcome, Outcome::Changed);
        let seller = profile.seller.unwrap();
        assert_eq!(seller.since, 3_000);
        assert_eq!(seller.details.description, "I write Go services too.");
    }

    #[test]
    fn applied_changes_say_which_events_they_cause() {
        let mut profile = profile();
        let bio = ProfileChanges {
            bio: Some("hello".to_owned()),
            ..ProfileChanges::default()
        };
        assert_eq!(
            profile
                .apply(ProfileChange::Update(bio.clone()), 2_000)
                .unwrap(),
            ProfileEffect::Changed
        );
        assert_eq!(
            profile.apply(ProfileChange::Update(bio), 3_000).unwrap(),
            ProfileEffect::None
        );
        let seller = details("I write Rust services.");
        assert_eq!(
            profile
                .apply(ProfileChange::BecomeSeller(seller.clone()), 4_000)
                .unwrap(),
            ProfileEffect::BecameSeller
        );
        assert_eq!(
            profile
                .apply(ProfileChange::ReplaceSellerDetails(seller), 5_000)
                .unwrap(),
            ProfileEffect::None
        );
    }

    #[test]
    fn a_suspended_profile_cannot_change_until_unsuspended() {
        let mut profile = profile();
        assert_eq!(profile.suspend(2_000), Outcome::Changed);
        assert_eq!(profile.suspend(3_000), Outcome::Unchanged);
        assert!(matches!(
            profile.update(ProfileChanges::default(), 4_000),
            Err(UsersError::Suspended)
        ));
        assert!(matches!(
            profile.become_seller(details("I write Rust services."), 4_000),
            Err(UsersError::Suspended)
        ));
        assert_eq!(profile.unsuspend(5_000), Outcome::Changed);
        assert!(profile.update(ProfileChanges::default(), 6_000).is_ok());
    }

    #[test]
    fn country_and_language_codes_come_from_the_iso_lists() {
        assert_eq!(
            CountryCode::parse("country", " de ").unwrap().as_str(),
            "DE"
        );
        assert!(CountryCode::parse("country", "XX").is_err());
        assert!(CountryCode::parse("country", "DEU").is_err());
        assert_eq!(LanguageCode::parse("code", "EN").unwrap().as_str(), "en");
        assert!(LanguageCode::parse("code", "xx").is_err());
        assert!(LanguageCode::parse("code", "eng").is_err());
    }

    #[test]
    fn languages_are_limited_and_unique() {
        let language = |code: &str| Language {
            code: LanguageCode::parse("code", code).unwrap(),
            proficiency: Proficiency::Fluent,
        };
        assert!(check_languages("languages", &[language("en"), language("de")]).is_ok());
        let duplicate = check_languages("languages", &[language("en"), language("en")]);
        assert!(duplicate.unwrap_err().description.contains("\"en\""));
        let eleven: Vec<_> = [
            "en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "fi", "pl",
        ]
        .into_iter()
        .map(language)
        .collect();
        assert!(check_languages("languages", &eleven).is_err());
    }

    #[test]
    fn years_must_be_plausible() {
        assert!(parse_year("year", 2015, 2030).is_ok());
        assert!(parse_year("year", 0, 2030).is_err());
        assert!(parse_year("year", 1200, 2030).is_err());
        assert!(parse_year("year", 2031, 2030).is_err());
    }

    #[test]
    fn skills_are_limited_and_unique_ignoring_case() {
        assert!(check_skills("skills", &["Rust".to_owned(), "rust".to_owned()]).is_err());
        let sixteen: Vec<String> = (0..16).map(|n| format!("skill {n}")).collect();
        assert!(check_skills("skills", &sixteen).is_err());
        assert!(check_skills("skills", &sixteen[..15]).is_ok());
    }
}
