//! Requests as domain values: every proto field a caller sends is parsed here, with the
//! path of the field in each violation (`gig.packages[1].price.amount_minor`), so a caller
//! learns about every bad field at once. Nothing deeper sees a proto type or a raw string id.

use std::collections::HashSet;

use gigmesh_errors::{ApiError, Violations};
use gigmesh_grpc::Caller;
use gigmesh_proto::gigs as proto;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_types::{
    Currency, GigId, HttpsUrl, Lines, Money, PageSize, PageToken, UserId, parse_text,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    self, Extra, Faq, GalleryItem, GigContent, GigLookup, MediaKind, ModerationAction, Package,
    Page, Requirement, RequirementKind, Tier, Viewer,
};
use crate::error::GigsError;
use crate::taxonomy;

/// Gigs per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Most gigs per page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The fields of a gig an update mask may name, in the order of the message.
pub const UPDATABLE_FIELDS: [&str; 10] = [
    "title",
    "description",
    "category_id",
    "subcategory_id",
    "tags",
    "packages",
    "extras",
    "gallery",
    "requirements",
    "faq",
];

/// New values for the parts of a gig a request names; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GigChanges {
    title: Option<String>,
    description: Option<String>,
    category_id: Option<Option<String>>,
    subcategory_id: Option<Option<String>>,
    tags: Option<Vec<String>>,
    packages: Option<Vec<Package>>,
    extras: Option<Vec<Extra>>,
    gallery: Option<Vec<GalleryItem>>,
    requirements: Option<Vec<Requirement>>,
    faq: Option<Vec<Faq>>,
}

impl GigChanges {
    /// `content` with these changes applied. Extras keep the id of the extra with the same
    /// title (ignoring case) in `content`; the rules spanning fields (the subcategory is
    /// filed under the category, one currency per gig) are checked on the result.
    pub fn apply_to(self, content: &GigContent) -> Result<GigContent, GigsError> {
        let mut changed = content.clone();
        if let Some(title) = self.title {
            changed.title = title;
        }
        if let Some(description) = self.description {
            changed.description = description;
        }
        if let Some(category_id) = self.category_id {
            changed.category_id = category_id;
        }
        if let Some(subcategory_id) = self.subcategory_id {
            changed.subcategory_id = subcategory_id;
        }
        if let Some(tags) = self.tags {
            changed.lists.tags = tags;
        }
        if let Some(packages) = self.packages {
            changed.lists.packages = packages;
        }
        if let Some(mut extras) = self.extras {
            keep_extra_ids(&content.lists.extras, &mut extras);
            changed.lists.extras = extras;
        }
        if let Some(gallery) = self.gallery {
            changed.lists.gallery = gallery;
        }
        if let Some(requirements) = self.requirements {
            changed.lists.requirements = requirements;
        }
        if let Some(faq) = self.faq {
            changed.lists.faq = faq;
        }
        check_across_fields(&changed)?;
        Ok(changed)
    }
}

/// Gives each extra the id of the previous extra with the same title, or a new one.
fn keep_extra_ids(previous: &[Extra], extras: &mut [Extra]) {
    for extra in extras {
        let title_key = extra.title.to_lowercase();
        extra.id = previous
            .iter()
            .find(|old| old.title.to_lowercase() == title_key)
            .map(|old| old.id.clone())
            .unwrap_or_else(|| Uuid::now_v7().to_string());
    }
}

fn check_across_fields(content: &GigContent) -> Result<(), GigsError> {
    let mut violations = Violations::new();
    match (&content.category_id, &content.subcategory_id) {
        (None, Some(_)) => {
            violations.add("gig.category_id", "is required when subcategory_id is set")
        }
        (Some(category_id), Some(subcategory_id)) => {
            let filed_under = taxonomy::category_of_subcategory(subcategory_id);
            if filed_under.is_some_and(|category| category.id != category_id) {
                violations.add(
                    "gig.subcategory_id",
                    format!(
                        "{subcategory_id:?} is not a subcategory of {category_id:?}; \
                         ListCategories shows where it is filed"
                    ),
                );
            }
        }
        _ => {}
    }
    if let Some(currency) = content.currency() {
        let wrong_currency = |field: String, money: &Money, violations: &mut Violations| {
            if money.currency != currency {
                violations.add(
                    field,
                    format!("must be {currency}: every price of a gig is in one currency"),
                );
            }
        };
        for (index, package) in content.lists.packages.iter().enumerate() {
            wrong_currency(
                format!("gig.packages[{index}].price.currency"),
                &package.price,
                &mut violations,
            );
        }
        for (index, extra) in content.lists.extras.iter().enumerate() {
            wrong_currency(
                format!("gig.extras[{index}].price.currency"),
                &extra.price,
                &mut violations,
            );
        }
    }
    violations.finish()?;
    Ok(())
}

/// The content of CreateGig: every field given is checked in full; a draft may leave out
/// all but the title, and publishing asks for the rest.
pub fn parse_new_gig(gig: Option<proto::Gig>) -> Result<GigContent, GigsError> {
    let Some(gig) = gig else {
        return Err(ApiError::invalid("gig", "is required").into());
    };
    let mut violations = Violations::new();
    let mut changes = GigChanges {
        title: violations.check(parse_title(&gig.title)),
        ..GigChanges::default()
    };
    if !gig.description.trim().is_empty() {
        changes.description = violations.check(parse_description(&gig.description));
    }
    if !gig.category_id.trim().is_empty() {
        changes.category_id = violations.check(parse_category(&gig.category_id)).map(Some);
    }
    if !gig.subcategory_id.trim().is_empty() {
        changes.subcategory_id = violations
            .check(parse_subcategory(&gig.subcategory_id))
            .map(Some);
    }
    changes.tags = parse_tags(&gig.tags, &mut violations);
    if !gig.packages.is_empty() {
        changes.packages = parse_packages(&gig.packages, &mut violations);
    }
    changes.extras = parse_extras(&gig.extras, &mut violations);
    changes.gallery = parse_gallery(&gig.gallery, &mut violations);
    changes.requirements = parse_requirements(&gig.requirements, &mut violations);
    changes.faq = parse_faq(&gig.faq, &mut violations);
    violations.finish()?;
    changes.apply_to(&GigContent::default())
}

/// The gig id and the changes of UpdateGig. No mask (or `*`) names every updatable field.
pub fn parse_gig_update(
    request: proto::UpdateGigRequest,
) -> Result<(GigId, GigChanges), GigsError> {
    let Some(gig) = request.gig else {
        return Err(ApiError::invalid("gig", "is required").into());
    };
    let mut violations = Violations::new();
    let gig_id = violations.check(parse_gig_id("gig.id", &gig.id));
    let paths = request
        .update_mask
        .map(|mask| mask.paths)
        .unwrap_or_default();
    let fields = violations
        .check(parse_update_mask(&paths))
        .unwrap_or_default();
    let mut changes = GigChanges::default();
    for field in fields {
        match field {
            "title" => changes.title = violations.check(parse_title(&gig.title)),
            "description" => {
                changes.description = violations.check(parse_description(&gig.description));
            }
            "category_id" => {
                changes.category_id = if gig.category_id.trim().is_empty() {
                    Some(None)
                } else {
                    violations.check(parse_category(&gig.category_id)).map(Some)
                };
            }
            "subcategory_id" => {
                changes.subcategory_id = if gig.subcategory_id.trim().is_empty() {
                    Some(None)
                } else {
                    violations
                        .check(parse_subcategory(&gig.subcategory_id))
                        .map(Some)
                };
            }
            "tags" => changes.tags = parse_tags(&gig.tags, &mut violations),
            "packages" => changes.packages = parse_packages(&gig.packages, &mut violations),
            "extras" => changes.extras = parse_extras(&gig.extras, &mut violations),
            "gallery" => changes.gallery = parse_gallery(&gig.gallery, &mut violations),
            "requirements" => {
                changes.requirements = parse_requirements(&gig.requirements, &mut violations);
            }
            _ => changes.faq = parse_faq(&gig.faq, &mut violations),
        }
    }
    violations.finish()?;
    let gig_id = gig_id.ok_or_else(|| ApiError::invalid("gig.id", "is required"))?;
    Ok((gig_id, changes))
}

fn parse_update_mask(paths: &[String]) -> Result<Vec<&'static str>, ApiError> {
    if paths.is_empty() || paths.iter().all(|path| path == "*") {
        return Ok(UPDATABLE_FIELDS.to_vec());
    }
    let mut fields = Vec::new();
    let mut unknown = Vec::new();
    for path in paths {
        match UPDATABLE_FIELDS
            .iter()
            .find(|field| **field == path.as_str())
        {
            Some(field) if !fields.contains(field) => fields.push(*field),
            Some(_) => {}
            None => unknown.push(format!("{path:?}")),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            format!(
                "unknown or read-only paths {}; updatable paths are {}",
                unknown.join(", "),
                UPDATABLE_FIELDS.join(", ")
            ),
        ));
    }
    Ok(fields)
}

/// A gig id field (surrounding whitespace ignored).
pub fn parse_gig_id(field: &str, raw: &str) -> Result<GigId, ApiError> {
    GigId::parse(field, raw.trim())
}

/// The gig GetGig names, by id or by slug (trimmed, any letter case).
pub fn parse_gig_lookup(key: Option<GigKey>) -> Result<GigLookup, ApiError> {
    match key {
        None => Err(ApiError::invalid("gig", "set either gig_id or slug")),
        Some(GigKey::GigId(raw)) => parse_gig_id("gig_id", &raw).map(GigLookup::Id),
        Some(GigKey::Slug(raw)) => {
            let slug = raw.trim().to_lowercase();
            if slug.is_empty() {
                return Err(ApiError::invalid("slug", "is required"));
            }
            Ok(GigLookup::Slug(slug))
        }
    }
}

/// The seller and the page of ListSellerGigs.
pub fn parse_seller_gigs_request(
    request: &proto::ListSellerGigsRequest,
) -> Result<(UserId, Page<GigId>), ApiError> {
    let mut violations = Violations::new();
    let seller_id = violations.check(parse_user_id("seller_id", &request.seller_id));
    let page = violations.check(parse_gig_page(request.page_size, &request.page_token));
    violations.finish()?;
    seller_id.zip(page).ok_or_else(parsed_field_missing)
}

/// The gig and the decision of ModerateGig.
pub fn parse_moderate_request(
    request: &proto::ModerateGigRequest,
) -> Result<(GigId, ModerationAction), ApiError> {
    let mut violations = Violations::new();
    let gig_id = violations.check(parse_gig_id("gig_id", &request.gig_id));
    let action = violations.check(parse_moderation(request.action, &request.reason));
    violations.finish()?;
    gig_id.zip(action).ok_or_else(parsed_field_missing)
}

/// A field that parsed without a violation and still has no value: a bug, not bad input.
fn parsed_field_missing() -> ApiError {
    ApiError::internal(anyhow::anyhow!("a parsed request field is missing"))
}

/// A user id field.
pub fn parse_user_id(field: &str, raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(field, raw.trim())
}

/// The decision of ModerateGig; a reason is required to reject or suspend.
pub fn parse_moderation(action: i32, reason: &str) -> Result<ModerationAction, ApiError> {
    let reason = reason.trim();
    let mut violations = Violations::new();
    let action = match proto::ModerationAction::try_from(action) {
        Ok(proto::ModerationAction::Approve) => Some(None),
        Ok(proto::ModerationAction::Reject) => Some(Some(true)),
        Ok(proto::ModerationAction::Suspend) => Some(Some(false)),
        Ok(proto::ModerationAction::Unspecified) | Err(_) => {
            violations.add(
                "action",
                "must be one of MODERATION_ACTION_APPROVE, MODERATION_ACTION_REJECT, \
                 MODERATION_ACTION_SUSPEND",
            );
            None
        }
    };
    let reason_text = violations.check(parse_text(
        "reason",
        reason,
        0,
        domain::MAX_MODERATION_REASON_CHARS,
        Lines::Multiple,
    ));
    if matches!(action, Some(Some(_))) && reason.is_empty() {
        violations.add("reason", "is required to reject or suspend a gig");
    }
    violations.finish()?;
    Ok(match (action, reason_text) {
        (Some(Some(true)), Some(reason)) => ModerationAction::Reject(reason),
        (Some(Some(false)), Some(reason)) => ModerationAction::Suspend(reason),
        _ => ModerationAction::Approve,
    })
}

/// A position in a list of gigs ordered newest first: the last gig id of the previous page.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GigCursor {
    after: String,
}

/// A position in the saved gigs, ordered by when they were saved, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedCursor {
    saved_at: i64,
    gig_id: String,
}

/// `page_size` and `page_token` of a list of gigs.
pub fn parse_gig_page(page_size: i32, page_token: &str) -> Result<Page<GigId>, ApiError> {
    parse_page(page_size, page_token, |cursor: GigCursor| {
        cursor_gig_id(&cursor.after)
    })
}

/// The `next_page_token` after a page of gigs ending with `last`.
pub fn gig_page_token(last: GigId) -> String {
    PageToken::encode(&GigCursor {
        after: last.to_string(),
    })
}

/// `page_size` and `page_token` of the saved gigs.
pub fn parse_saved_page(page_size: i32, page_token: &str) -> Result<Page<(i64, GigId)>, ApiError> {
    parse_page(page_size, page_token, |cursor: SavedCursor| {
        Some((cursor.saved_at, cursor_gig_id(&cursor.gig_id)?))
    })
}

/// The `next_page_token` after a page of saved gigs ending with the one saved at `saved_at`.
pub fn saved_page_token(saved_at: i64, gig_id: GigId) -> String {
    PageToken::encode(&SavedCursor {
        saved_at,
        gig_id: gig_id.to_string(),
    })
}

/// `page_size` and `page_token` of a list whose tokens carry a `Cursor`; `position` reads
/// the cursor, and a cursor it cannot read is a token from elsewhere.
fn parse_page<Cursor: DeserializeOwned, Position>(
    page_size: i32,
    page_token: &str,
    position: impl FnOnce(Cursor) -> Option<Position>,
) -> Result<Page<Position>, ApiError> {
    let mut violations = Violations::new();
    let size = violations.check(PageSize::parse(
        "page_size",
        page_size,
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    ));
    let after = violations
        .check(PageToken::decode::<Cursor>("page_token", page_token))
        .flatten()
        .and_then(|cursor| violations.check(position(cursor).ok_or_else(foreign_page_token)));
    violations.finish()?;
    Ok(Page {
        size: size.unwrap_or(DEFAULT_PAGE_SIZE),
        after,
    })
}

/// The gig id a page cursor carries.
fn cursor_gig_id(raw: &str) -> Option<GigId> {
    parse_gig_id("page_token", raw).ok()
}

fn foreign_page_token() -> ApiError {
    ApiError::invalid("page_token", "is not a page token this server issued")
}

fn parse_title(raw: &str) -> Result<String, ApiError> {
    Ok(parse_text(
        "gig.title",
        raw,
        domain::MIN_TITLE_CHARS,
        domain::MAX_TITLE_CHARS,
        Lines::Single,
    )?)
}

fn parse_description(raw: &str) -> Result<String, ApiError> {
    Ok(parse_text(
        "gig.description",
        raw,
        1,
        domain::MAX_DESCRIPTION_CHARS,
        Lines::Multiple,
    )?)
}

fn parse_category(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    match taxonomy::category(id) {
        Some(category) => Ok(category.id.to_owned()),
        None => Err(ApiError::invalid(
            "gig.category_id",
            format!("{id:?} is not a category; ListCategories lists them"),
        )),
    }
}

fn parse_subcategory(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if taxonomy::category_of_subcategory(id).is_some() {
        Ok(id.to_owned())
    } else {
        Err(ApiError::invalid(
            "gig.subcategory_id",
            format!("{id:?} is not a subcategory; ListCategories lists them"),
        ))
    }
}

fn parse_tags(tags: &[String], violations: &mut Violations) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    violations.parse_list(
        "gig.tags",
        tags,
        domain::MAX_TAGS,
        |field, raw, violations| {
            let tag = raw
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            let tag = violations.check(parse_text(
                field,
                &tag,
                domain::MIN_TAG_CHARS,
                domain::MAX_TAG_CHARS,
                Lines::Single,
            ))?;
            let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '+' | '#' | '.');
            if !tag.chars().all(allowed) {
                violations.add(
                    field,
                    "may contain letters, digits, spaces and the characters - + # . only",
                );
                return None;
            }
            if !seen.insert(tag.clone()) {
                violations.add(field, format!("repeats the tag {tag:?}"));
                return None;
            }
            Some(tag)
        },
    )
}

fn parse_money(
    field: &str,
    money: Option<&gigmesh_proto::types::Money>,
    violations: &mut Violations,
) -> Option<Money> {
    let Some(money) = money else {
        violations.add(field, "is required");
        return None;
    };
    let amount_minor = if money.amount_minor > 0 {
        Some(money.amount_minor)
    } else {
        violations.add(
            format!("{field}.amount_minor"),
            "must be positive (minor units, e.g. 1999 for 19.99)",
        );
        None
    };
    let currency = violations.check(Currency::parse(
        &format!("{field}.currency"),
        &money.currency,
    ));
    Some(Money {
        amount_minor: amount_minor?,
        currency: currency?,
    })
}

fn parse_packages(
    packages: &[proto::Package],
    violations: &mut Violations,
) -> Option<Vec<Package>> {
    const FIELD: &str = "gig.packages";
    if packages.is_empty() {
        violations.add(FIELD, "must include the basic package");
        return None;
    }
    let parsed = violations.parse_list(FIELD, packages, 3, parse_package)?;
    let mut all_valid = true;
    for (index, pair) in parsed.windows(2).enumerate() {
        let (previous, package) = (&pair[0], &pair[1]);
        let field = format!("{FIELD}[{}]", index + 1);
        if package.tier <= previous.tier {
            violations.add(
                format!("{field}.tier"),
                "packages must be listed basic, standard, premium, each tier at most once",
            );
            all_valid = false;
        } else if package.price.amount_minor <= previous.price.amount_minor {
            violations.add(
                format!("{field}.price.amount_minor"),
                format!(
                    "must be more than the {} package's price: prices rise with the tier",
                    previous.tier.as_str()
                ),
            );
            all_valid = false;
        }
    }
    if all_valid
        && parsed
            .first()
            .is_some_and(|first| first.tier != Tier::Basic)
    {
        violations.add(FIELD, "must include the basic package");
        all_valid = false;
    }
    all_valid.then_some(parsed)
}

fn parse_package(
    field: &str,
    package: &proto::Package,
    violations: &mut Violations,
) -> Option<Package> {
    let tier = match proto::PackageTier::try_from(package.tier) {
        Ok(proto::PackageTier::Basic) => Some(Tier::Basic),
        Ok(proto::PackageTier::Standard) => Some(Tier::Standard),
        Ok(proto::PackageTier::Premium) => Some(Tier::Premium),
        Ok(proto::PackageTier::Unspecified) | Err(_) => {
            violations.add(
                format!("{field}.tier"),
                "must be one of PACKAGE_TIER_BASIC, PACKAGE_TIER_STANDARD, PACKAGE_TIER_PREMIUM",
            );
            None
        }
    };
    let name = violations.check(parse_text(
        &format!("{field}.name"),
        &package.name,
        1,
        domain::MAX_PACKAGE_NAME_CHARS,
        Lines::Single,
    ));
    let description = violations.check(parse_text(
        &format!("{field}.description"),
        &package.description,
        0,
        domain::MAX_PACKAGE_DESCRIPTION_CHARS,
        Lines::Multiple,
    ));
    let price = parse_money(
        &format!("{field}.price"),
        package.price.as_ref(),
        violations,
    );
    let delivery_days = violations.check(parse_range(
        &format!("{field}.delivery_days"),
        package.delivery_days,
        domain::MIN_DELIVERY_DAYS,
        domain::MAX_DELIVERY_DAYS,
    ));
    let revisions = if package.revisions == domain::UNLIMITED_REVISIONS {
        Some(package.revisions)
    } else {
        violations.check(
            parse_range(
                &format!("{field}.revisions"),
                package.revisions,
                0,
                domain::MAX_REVISIONS,
            )
            .map_err(|_| {
                ApiError::invalid(
                    format!("{field}.revisions"),
                    format!(
                        "must be 0 to {}, or -1 for unlimited",
                        domain::MAX_REVISIONS
                    ),
                )
            }),
        )
    };
    let features = violations.parse_list(
        &format!("{field}.features"),
        &package.features,
        domain::MAX_FEATURES,
        |field, feature, violations| {
            violations.check(parse_text(
                field,
                feature,
                1,
                domain::MAX_FEATURE_CHARS,
                Lines::Single,
            ))
        },
    );
    Some(Package {
        tier: tier?,
        name: name?,
        description: description?,
        price: price?,
        delivery_days: delivery_days?,
        revisions: revisions?,
        features: features?,
    })
}

fn parse_extras(extras: &[proto::Extra], violations: &mut Violations) -> Option<Vec<Extra>> {
    let mut titles = HashSet::new();
    violations.parse_list(
        "gig.extras",
        extras,
        domain::MAX_EXTRAS,
        |field, extra, violations| {
            let title = violations.check(parse_text(
                &format!("{field}.title"),
                &extra.title,
                1,
                domain::MAX_EXTRA_TITLE_CHARS,
                Lines::Single,
            ));
            let title = title.and_then(|title| {
                if titles.insert(title.to_lowercase()) {
                    Some(title)
                } else {
                    violations.add(
                        format!("{field}.title"),
                        "repeats the title of another extra",
                    );
                    None
                }
            });
            let price = parse_money(&format!("{field}.price"), extra.price.as_ref(), violations);
            let extra_days = violations.check(parse_range(
                &format!("{field}.extra_days"),
                extra.extra_days,
                0,
                domain::MAX_EXTRA_DAYS,
            ));
            Some(Extra {
                id: String::new(),
                title: title?,
                price: price?,
                extra_days: extra_days?,
            })
        },
    )
}

fn parse_gallery(
    gallery: &[proto::GalleryItem],
    violations: &mut Violations,
) -> Option<Vec<GalleryItem>> {
    const FIELD: &str = "gig.gallery";
    let max_items = domain::MAX_GALLERY_IMAGES + domain::MAX_GALLERY_VIDEOS;
    let parsed = violations.parse_list(FIELD, gallery, max_items, |field, item, violations| {
        let kind = match proto::MediaKind::try_from(item.kind) {
            Ok(proto::MediaKind::Image) => Some(MediaKind::Image),
            Ok(proto::MediaKind::Video) => Some(MediaKind::Video),
            Ok(proto::MediaKind::Unspecified) | Err(_) => {
                violations.add(
                    format!("{field}.kind"),
                    "must be MEDIA_KIND_IMAGE or MEDIA_KIND_VIDEO",
                );
                None
            }
        };
        let url = violations
            .check(HttpsUrl::parse(&format!("{field}.url"), &item.url).map(HttpsUrl::into_string));
        Some(GalleryItem {
            kind: kind?,
            url: url?,
            cover: item.cover,
        })
    })?;
    let count = |kind: MediaKind| parsed.iter().filter(|item| item.kind == kind).count();
    let mut valid = true;
    if count(MediaKind::Image) > domain::MAX_GALLERY_IMAGES {
        violations.add(
            FIELD,
            format!("must have at most {} images", domain::MAX_GALLERY_IMAGES),
        );
        valid = false;
    }
    if count(MediaKind::Video) > domain::MAX_GALLERY_VIDEOS {
        violations.add(
            FIELD,
            format!("must have at most {} videos", domain::MAX_GALLERY_VIDEOS),
        );
        valid = false;
    }
    let covers = parsed.iter().filter(|item| item.cover).count();
    if !parsed.is_empty() && covers != 1 {
        violations.add(FIELD, "must mark exactly one item as the cover");
        valid = false;
    }
    valid.then_some(parsed)
}

fn parse_requirements(
    requirements: &[proto::Requirement],
    violations: &mut Violations,
) -> Option<Vec<Requirement>> {
    violations.parse_list(
        "gig.requirements",
        requirements,
        domain::MAX_REQUIREMENTS,
        |field, requirement, violations| {
            let question = violations.check(parse_text(
                &format!("{field}.question"),
                &requirement.question,
                1,
                domain::MAX_REQUIREMENT_QUESTION_CHARS,
                Lines::Multiple,
            ));
            let options_field = format!("{field}.options");
            let kind = match proto::RequirementKind::try_from(requirement.kind) {
                Ok(proto::RequirementKind::Text) => Some(RequirementKind::Text),
                Ok(proto::RequirementKind::MultipleChoice) => Some(RequirementKind::MultipleChoice),
                Ok(proto::RequirementKind::Attachment) => Some(RequirementKind::Attachment),
                Ok(proto::RequirementKind::Unspecified) | Err(_) => {
                    violations.add(
                        format!("{field}.kind"),
                        "must be one of REQUIREMENT_KIND_TEXT, REQUIREMENT_KIND_MULTIPLE_CHOICE, \
                         REQUIREMENT_KIND_ATTACHMENT",
                    );
                    None
                }
            };
            let options = match kind {
                Some(RequirementKind::MultipleChoice) => {
                    let count = requirement.options.len();
                    if (domain::MIN_CHOICE_OPTIONS..=domain::MAX_CHOICE_OPTIONS).contains(&count) {
                        violations.parse_list(
                            &options_field,
                            &requirement.options,
                            domain::MAX_CHOICE_OPTIONS,
                            |field, option, violations| {
                                violations.check(parse_text(
                                    field,
                                    option,
                                    1,
                                    domain::MAX_CHOICE_OPTION_CHARS,
                                    Lines::Single,
                                ))
                            },
                        )
                    } else {
                        violations.add(
                            options_field,
                            format!(
                                "a multiple-choice question needs {} to {} options",
                                domain::MIN_CHOICE_OPTIONS,
                                domain::MAX_CHOICE_OPTIONS
                            ),
                        );
                        None
                    }
                }
                Some(_) if !requirement.options.is_empty() => {
                    violations.add(options_field, "only multiple-choice questions have options");
                    None
                }
                _ => Some(Vec::new()),
            };
            Some(Requirement {
                question: question?,
                kind: kind?,
                options: options?,
                required: requirement.required,
            })
        },
    )
}

fn parse_faq(faq: &[proto::Faq], violations: &mut Violations) -> Option<Vec<Faq>> {
    violations.parse_list(
        "gig.faq",
        faq,
        domain::MAX_FAQ,
        |field, entry, violations| {
            let question = violations.check(parse_text(
                &format!("{field}.question"),
                &entry.question,
                1,
                domain::MAX_FAQ_QUESTION_CHARS,
                Lines::Multiple,
            ));
            let answer = violations.check(parse_text(
                &format!("{field}.answer"),
                &entry.answer,
                1,
                domain::MAX_FAQ_ANSWER_CHARS,
                Lines::Multiple,
            ));
            Some(Faq {
                question: question?,
                answer: answer?,
            })
        },
    )
}

fn parse_range(field: &str, value: i32, min: i32, max: i32) -> Result<i32, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(field, format!("must be {min} to {max}")))
    }
}

/// Who is looking: a public method works without a token, and a refused token counts as
/// none (as the gateway treats it on public methods).
pub fn viewer(caller: Option<&Caller>) -> Viewer {
    match caller {
        Some(caller) => Viewer::User {
            user_id: caller.user_id(),
            admin: caller.is_admin(),
        },
        None => Viewer::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_keep_their_id_by_title() {
        let extra = |id: &str, title: &str| Extra {
            id: id.to_owned(),
            title: title.to_owned(),
            price: Money::new(100, Currency::USD),
            extra_days: 1,
        };
        let previous = [extra("a", "Fast delivery"), extra("b", "Source files")];
        let mut extras = [extra("", "fast DELIVERY"), extra("", "Commercial use")];
        keep_extra_ids(&previous, &mut extras);
        assert_eq!(extras[0].id, "a");
        assert!(Uuid::parse_str(&extras[1].id).is_ok());
    }

    #[test]
    fn update_masks_name_unknown_paths() {
        assert_eq!(
            parse_update_mask(&[]).unwrap().len(),
            UPDATABLE_FIELDS.len()
        );
        assert_eq!(parse_update_mask(&["tags".to_owned()]).unwrap(), ["tags"]);
        let error = parse_update_mask(&["tags".to_owned(), "state".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("\"state\""));
    }

    #[test]
    fn rejecting_and_suspending_need_a_reason() {
        assert_eq!(
            parse_moderation(proto::ModerationAction::Approve as i32, "").unwrap(),
            ModerationAction::Approve
        );
        assert_eq!(
            parse_moderation(proto::ModerationAction::Reject as i32, " spam ").unwrap(),
            ModerationAction::Reject("spam".to_owned())
        );
        assert!(parse_moderation(proto::ModerationAction::Suspend as i32, "  ").is_err());
        assert!(parse_moderation(proto::ModerationAction::Unspecified as i32, "x").is_err());
        assert!(parse_moderation(42, "x").is_err());
    }

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        let last = GigId::new();
        let page = parse_gig_page(0, &gig_page_token(last)).unwrap();
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
        assert_eq!(page.after, Some(last));
        assert_eq!(parse_gig_page(10_000, "").unwrap().size, MAX_PAGE_SIZE);
        assert!(parse_gig_page(0, "garbage").is_err());
        let saved = parse_saved_page(5, &saved_page_token(7, last)).unwrap();
        assert_eq!(saved.after, Some((7, last)));
        assert!(parse_saved_page(5, &gig_page_token(last)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn accepted_text_is_trimmed_and_within_limits(raw in "\\PC{0,100}|[ a-z\\n\\t\\u{0}]{0,100}") {
            if let Ok(text) = parse_text("field", &raw, 10, 80, Lines::Single) {
                proptest::prop_assert_eq!(text.trim(), text.as_str());
                proptest::prop_assert!((10..=80).contains(&text.chars().count()));
            }
        }
    }
}
