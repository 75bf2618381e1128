//! What a gig shows and asks: its gallery (images and videos, exactly one cover), the
//! requirements a buyer answers when ordering, and the FAQ.

use gigmesh_errors::Violations;
use gigmesh_proto::gigs as proto;
use gigmesh_types::{HttpsUrl, Lines, parse_text};

use crate::domain::{self, Faq, GalleryItem, MediaKind, Requirement, RequirementKind};

pub(super) fn parse_gallery(
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

pub(super) fn parse_requirements(
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

pub(super) fn parse_faq(faq: &[proto::Faq], violations: &mut Violations) -> Option<Vec<Faq>> {
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
