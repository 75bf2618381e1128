//! Requests as domain values: every proto field a caller sends is parsed here, with the
//! path of the field in each violation (`seller.portfolio[0].url`), so a caller learns about
//! every bad field at once. Nothing deeper sees a proto type or a raw string id.

use gigmesh_errors::{ApiError, FieldViolation, Violations, echoed_list};
use gigmesh_proto::users as proto;
use gigmesh_proto::users::get_public_profile_request::User as ProtoProfileKey;
use gigmesh_types::{HttpsUrl, Lines, UserId, parse_text};

use crate::domain::{
    self, Certification, CountryCode, Education, Language, LanguageCode, PortfolioItem,
    Proficiency, ProfileChanges, ProfileKey, SellerDetails,
};

/// The public profile GetPublicProfile names: by user id or by username.
pub fn parse_profile_key(key: Option<ProtoProfileKey>) -> Result<ProfileKey, ApiError> {
    match key {
        Some(ProtoProfileKey::UserId(raw)) => {
            UserId::parse("user_id", raw.trim()).map(ProfileKey::UserId)
        }
        Some(ProtoProfileKey::Username(raw)) => {
            let username = raw.trim();
            if username.is_empty() {
                return Err(ApiError::invalid("username", "is required"));
            }
            Ok(ProfileKey::Username(username.to_owned()))
        }
        None => Err(ApiError::invalid("user", "set either user_id or username")),
    }
}

/// The changes of UpdateMyProfile: the fields its mask names (no mask, or `*`, names every
/// updatable field), each parsed in full.
pub fn parse_profile_changes(
    request: proto::UpdateMyProfileRequest,
) -> Result<ProfileChanges, ApiError> {
    let mut violations = Violations::new();
    let mask_paths = request
        .update_mask
        .map(|mask| mask.paths)
        .unwrap_or_default();
    let fields = violations
        .check(parse_update_mask("update_mask", &mask_paths))
        .unwrap_or_default();
    let changes = match request.profile {
        Some(profile) => parse_masked_fields(&profile, &fields, &mut violations),
        None => {
            violations.add("profile", "is required");
            ProfileChanges::default()
        }
    };
    violations.finish()?;
    Ok(changes)
}

fn parse_masked_fields(
    profile: &proto::Profile,
    fields: &[ProfileField],
    violations: &mut Violations,
) -> ProfileChanges {
    let mut changes = ProfileChanges::default();
    for field in fields {
        match field {
            ProfileField::DisplayName => {
                changes.display_name = violations.check(parse_text(
                    "profile.display_name",
                    &profile.display_name,
                    1,
                    domain::MAX_DISPLAY_NAME_CHARS,
                    Lines::Single,
                ));
            }
            ProfileField::Bio => {
                changes.bio = violations.check(parse_text(
                    "profile.bio",
                    &profile.bio,
                    0,
                    domain::MAX_BIO_CHARS,
                    Lines::Multiple,
                ));
            }
            ProfileField::Country => {
                changes.country = parse_optional(&profile.country, violations, |raw| {
                    CountryCode::parse("profile.country", raw)
                });
            }
            ProfileField::Languages => {
                changes.languages = parse_languages(&profile.languages, violations);
            }
            ProfileField::AvatarUrl => {
                changes.avatar_url = parse_optional(&profile.avatar_url, violations, |raw| {
                    HttpsUrl::parse("profile.avatar_url", raw)
                });
            }
        }
    }
    changes
}

/// An optional field: blank clears it (`Some(None)`), anything else must parse; `None` when
/// it does not.
fn parse_optional<T>(
    raw: &str,
    violations: &mut Violations,
    parse: impl FnOnce(&str) -> Result<T, FieldViolation>,
) -> Option<Option<T>> {
    if raw.trim().is_empty() {
        return Some(None);
    }
    violations.check(parse(raw)).map(Some)
}

fn parse_languages(
    languages: &[proto::Language],
    violations: &mut Violations,
) -> Option<Vec<Language>> {
    const FIELD: &str = "profile.languages";
    let parsed = violations.parse_list(
        FIELD,
        languages,
        domain::MAX_LANGUAGES,
        |field, language, violations| {
            let code = violations.check(LanguageCode::parse(
                &format!("{field}.code"),
                &language.code,
            ));
            let proficiency = violations.check(parse_proficiency(
                &format!("{field}.proficiency"),
                language.proficiency,
            ));
            Some(Language {
                code: code?,
                proficiency: proficiency?,
            })
        },
    )?;
    violations.check(domain::check_languages(FIELD, &parsed))?;
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

/// The seller profile of BecomeSeller and UpdateMySellerProfile. Years are checked against
/// `current_year`: a graduation may lie a few years ahead, a certificate may not.
pub fn parse_seller_details(
    seller: Option<proto::SellerProfile>,
    current_year: i32,
) -> Result<SellerDetails, ApiError> {
    let Some(seller) = seller else {
        return Err(ApiError::invalid("seller", "is required"));
    };
    let mut violations = Violations::new();
    let description = violations.check(parse_text(
        "seller.description",
        &seller.description,
        domain::MIN_SELLER_DESCRIPTION_CHARS,
        domain::MAX_SELLER_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let skills = parse_skills(&seller.skills, &mut violations);
    let portfolio = violations.parse_list(
        "seller.portfolio",
        &seller.portfolio,
        domain::MAX_PORTFOLIO_ITEMS,
        parse_portfolio_item,
    );
    let education = violations.parse_list(
        "seller.education",
        &seller.education,
        domain::MAX_EDUCATION_ENTRIES,
        |field, entry, violations| parse_education(field, entry, current_year, violations),
    );
    let certifications = violations.parse_list(
        "seller.certifications",
        &seller.certifications,
        domain::MAX_CERTIFICATIONS,
        |field, entry, violations| parse_certification(field, entry, current_year, violations),
    );
    violations.finish()?;
    let (Some(description), Some(skills), Some(portfolio), Some(education), Some(certifications)) =
        (description, skills, portfolio, education, certifications)
    else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a parsed seller field is missing"
        )));
    };
    Ok(SellerDetails {
        description,
        skills,
        portfolio,
        education,
        certifications,
    })
}

fn parse_skills(skills: &[String], violations: &mut Violations) -> Option<Vec<String>> {
    const FIELD: &str = "seller.skills";
    let parsed = violations.parse_list(
        FIELD,
        skills,
        domain::MAX_SKILLS,
        |field, skill, violations| {
            violations.check(parse_text(
                field,
                skill,
                1,
                domain::MAX_SKILL_CHARS,
                Lines::Single,
            ))
        },
    )?;
    violations.check(domain::check_skills(FIELD, &parsed))?;
    Some(parsed)
}

fn parse_portfolio_item(
    field: &str,
    item: &proto::PortfolioItem,
    violations: &mut Violations,
) -> Option<PortfolioItem> {
    let title = violations.check(parse_text(
        &format!("{field}.title"),
        &item.title,
        1,
        domain::MAX_PORTFOLIO_TITLE_CHARS,
        Lines::Single,
    ));
    let description = violations.check(parse_text(
        &format!("{field}.description"),
        &item.description,
        0,
        domain::MAX_PORTFOLIO_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let url = violations.check(HttpsUrl::parse(&format!("{field}.url"), &item.url));
    let image_url = parse_optional(&item.image_url, violations, |raw| {
        HttpsUrl::parse(&format!("{field}.image_url"), raw)
    });
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
        violations.check(parse_text(
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
    let year = violations.check(domain::parse_year(
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
        violations.check(parse_text(
            &format!("{field}.{name}"),
            raw,
            1,
            domain::MAX_CREDENTIAL_TEXT_CHARS,
            Lines::Single,
        ))
    };
    let name = text("name", &entry.name, violations);
    let issuer = text("issuer", &entry.issuer, violations);
    let year = violations.check(domain::parse_year(
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

/// A field of the profile that an update mask may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileField {
    /// `display_name`
    DisplayName,
    /// `bio`
    Bio,
    /// `country`
    Country,
    /// `languages`
    Languages,
    /// `avatar_url`
    AvatarUrl,
}

impl ProfileField {
    /// Every updatable field, in the order of the message.
    pub const ALL: [ProfileField; 5] = [
        ProfileField::DisplayName,
        ProfileField::Bio,
        ProfileField::Country,
        ProfileField::Languages,
        ProfileField::AvatarUrl,
    ];

    /// The field's name in an update mask.
    pub fn path(self) -> &'static str {
        match self {
            ProfileField::DisplayName => "display_name",
            ProfileField::Bio => "bio",
            ProfileField::Country => "country",
            ProfileField::Languages => "languages",
            ProfileField::AvatarUrl => "avatar_url",
        }
    }

    fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.path() == path)
    }
}

/// Reads an update mask: no paths (or `*`) means every updatable field; paths that are not
/// updatable fields are reported all at once.
pub fn parse_update_mask(
    field: &str,
    paths: &[String],
) -> Result<Vec<ProfileField>, FieldViolation> {
    if paths.is_empty() || paths.iter().all(|path| path == "*") {
        return Ok(ProfileField::ALL.to_vec());
    }
    let mut fields = Vec::new();
    let mut unknown = Vec::new();
    for path in paths {
        match ProfileField::from_path(path) {
            Some(profile_field) if !fields.contains(&profile_field) => fields.push(profile_field),
            Some(_) => {}
            None => unknown.push(path.as_str()),
        }
    }
    if !unknown.is_empty() {
        let allowed: Vec<&str> = ProfileField::ALL.iter().map(|f| f.path()).collect();
        return Err(FieldViolation::new(
            field,
            format!(
                "unknown or read-only paths {}; updatable paths are {}",
                echoed_list(unknown),
                allowed.join(", ")
            ),
        ));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_mask_names_unknown_paths() {
        assert_eq!(parse_update_mask("update_mask", &[]).unwrap().len(), 5);
        assert_eq!(
            parse_update_mask("update_mask", &["*".to_owned()])
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            parse_update_mask("update_mask", &["bio".to_owned(), "bio".to_owned()]).unwrap(),
            [ProfileField::Bio]
        );
        let violation = parse_update_mask(
            "update_mask",
            &[
                "bio".to_owned(),
                "is_seller".to_owned(),
                "nickname".to_owned(),
            ],
        )
        .unwrap_err();
        assert_eq!(violation.field, "update_mask");
        assert!(violation.description.contains("\"is_seller\""));
        assert!(violation.description.contains("\"nickname\""));
    }

    #[test]
    fn public_profiles_are_named_by_a_trimmed_id_or_username() {
        let user_id = UserId::new();
        assert_eq!(
            parse_profile_key(Some(ProtoProfileKey::UserId(format!(" {user_id} ")))).unwrap(),
            ProfileKey::UserId(user_id)
        );
        assert_eq!(
            parse_profile_key(Some(ProtoProfileKey::Username(" Ada ".to_owned()))).unwrap(),
            ProfileKey::Username("Ada".to_owned())
        );
        assert!(parse_profile_key(Some(ProtoProfileKey::Username("  ".to_owned()))).is_err());
        assert!(parse_profile_key(None).is_err());
    }
}
