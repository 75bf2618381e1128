//! The category taxonomy gigs are filed under, owned by this service and served by
//! `ListCategories`. Ids are stable slugs: gigs, search and links keep them, so an id is
//! never renamed or reused; a name may change.

/// A category with its subcategories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    /// Stable id, e.g. `programming-tech`.
    pub id: &'static str,
    /// Name shown to people.
    pub name: &'static str,
    /// Subcategories filed under it, each id unique across the whole taxonomy.
    pub subcategories: &'static [Subcategory],
}

/// A subcategory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subcategory {
    /// Stable id, unique across the taxonomy, e.g. `web-development`.
    pub id: &'static str,
    /// Name shown to people.
    pub name: &'static str,
}

const fn sub(id: &'static str, name: &'static str) -> Subcategory {
    Subcategory { id, name }
}

/// Every category, in the order they are shown.
pub const CATEGORIES: &[Category] = &[
    Category {
        id: "graphics-design",
        name: "Graphics & Design",
        subcategories: &[
            sub("logo-design", "Logo Design"),
            sub("brand-style-guides", "Brand Style Guides"),
            sub("illustration", "Illustration"),
            sub("web-app-design", "Website & App Design"),
            sub("social-media-design", "Social Media Design"),
            sub("packaging-design", "Packaging & Label Design"),
            sub("presentation-design", "Presentation Design"),
        ],
    },
    Category {
        id: "programming-tech",
        name: "Programming & Tech",
        subcategories: &[
            sub("web-development", "Website Development"),
            sub("mobile-apps", "Mobile App Development"),
            sub("backend-apis", "Backend & APIs"),
            sub("devops-cloud", "DevOps & Cloud"),
            sub("databases", "Databases"),
            sub("ai-development", "AI Development"),
            sub("software-testing", "QA & Software Testing"),
            sub("cybersecurity", "Cybersecurity"),
        ],
    },
    Category {
        id: "digital-marketing",
        name: "Digital Marketing",
        subcategories: &[
            sub("seo", "Search Engine Optimization (SEO)"),
            sub("social-media-marketing", "Social Media Marketing"),
            sub("search-engine-marketing", "Search Engine Marketing (SEM)"),
            sub("email-marketing", "Email Marketing"),
            sub("content-marketing", "Content Marketing"),
            sub("marketing-strategy", "Marketing Strategy"),
        ],
    },
    Category {
        id: "writing-translation",
        name: "Writing & Translation",
        subcategories: &[
            sub("articles-blog-posts", "Articles & Blog Posts"),
            sub("copywriting", "Copywriting"),
            sub("translation", "Translation"),
            sub("proofreading-editing", "Proofreading & Editing"),
            sub("technical-writing", "Technical Writing"),
            sub("resume-writing", "Resume Writing"),
        ],
    },
    Category {
        id: "video-animation",
        name: "Video & Animation",
        subcategories: &[
            sub("video-editing", "Video Editing"),
            sub("animated-explainers", "Animated Explainers"),
            sub("motion-graphics", "Motion Graphics"),
            sub("logo-animation", "Logo Animation"),
            sub("short-video-ads", "Short Video Ads"),
        ],
    },
    Category {
        id: "music-audio",
        name: "Music & Audio",
        subcategories: &[
            sub("voice-over", "Voice Over"),
            sub("mixing-mastering", "Mixing & Mastering"),
            sub("music-production", "Music Production"),
            sub("podcast-production", "Podcast Production"),
            sub("sound-design", "Sound Design"),
        ],
    },
    Category {
        id: "business",
        name: "Business",
        subcategories: &[
            sub("virtual-assistant", "Virtual Assistant"),
            sub("market-research", "Market Research"),
            sub("business-plans", "Business Plans"),
            sub("legal-consulting", "Legal Consulting"),
            sub("financial-consulting", "Financial Consulting"),
            sub("project-management", "Project Management"),
        ],
    },
    Category {
        id: "data",
        name: "Data",
        subcategories: &[
            sub("data-analytics", "Data Analytics"),
            sub("data-visualization", "Data Visualization"),
            sub("data-entry", "Data Entry"),
            sub("data-science-ml", "Data Science & Machine Learning"),
            sub("data-engineering", "Data Engineering"),
        ],
    },
];

/// The category with `id`.
pub fn category(id: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|category| category.id == id)
}

/// The category that files the subcategory `subcategory_id`, if any does.
pub fn category_of_subcategory(subcategory_id: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|category| {
        category
            .subcategories
            .iter()
            .any(|subcategory| subcategory.id == subcategory_id)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_slugs_and_every_category_has_four_to_eight_subcategories() {
        let mut ids = HashSet::new();
        let is_slug = |id: &str| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        for category in CATEGORIES {
            assert!(is_slug(category.id), "{}", category.id);
            assert!(ids.insert(category.id), "{} twice", category.id);
            assert!(
                (4..=8).contains(&category.subcategories.len()),
                "{}",
                category.id
            );
            for subcategory in category.subcategories {
                assert!(is_slug(subcategory.id), "{}", subcategory.id);
                assert!(ids.insert(subcategory.id), "{} twice", subcategory.id);
            }
        }
        assert_eq!(CATEGORIES.len(), 8);
    }

    #[test]
    fn subcategories_know_their_category() {
        assert_eq!(
            category_of_subcategory("web-development").map(|category| category.id),
            Some("programming-tech")
        );
        assert!(category_of_subcategory("nope").is_none());
        assert!(category("data").is_some());
        assert!(category("web-development").is_none());
    }
}
