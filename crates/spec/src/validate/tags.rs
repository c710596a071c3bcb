//! Tags as AWS takes them: keys and values, the reserved `aws:` prefix, and the 50-tag limit
//! with the controller's own tags counted.

use super::*;
use crate::model_string::{TAG_KEY, TAG_VALUE};

/// User tags: count, reserved prefixes, lengths.
pub(super) fn check_tags(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    // Every tag the controller sends counts: ECS refuses a 51st (API_Tag, "Maximum number of
    // tags per resource - 50").
    let own = own_tag_count(spec);
    let room = MAX_TAGS - own;
    if spec.tags.len() > room {
        err(
            "spec.tags",
            format!(
                "at most {room} tags: ECS allows {MAX_TAGS} per resource and the controller adds \
                 {own} of its own to this group's, got {}",
                spec.tags.len()
            ),
        );
    }
    for (key, value) in &spec.tags {
        let path = format!("spec.tags.{key}");
        if key.starts_with(TAG_PREFIX) {
            err(
                &path,
                format!("tag keys under {TAG_PREFIX} are reserved for the controller"),
            );
        } else if let Some(problem) = tag_problem(key, value) {
            err(&path, problem);
        }
    }
    // The keys travel as one tag value too, so that a key the spec drops can be removed.
    if let Some(keys) = crate::render::encode_tag_keys(spec.tags.keys()) {
        if keys.chars().count() > 256 {
            err(
                "spec.tags",
                format!(
                    "the controller records the keys of spec.tags in the tag {TAG_TAG_KEYS} \
                     (a key and its length each), which must be at most 256 characters; these \
                     keys take {}: use fewer or shorter keys",
                    keys.chars().count()
                ),
            );
        }
    }
    // The selectors travel as one tag value, separated by spaces.
    let selectors = spec.selectors.join(" ");
    if !selectors.is_empty() && !spec.selectors.iter().any(|s| s.contains(',')) {
        if let Some(problem) = tag_value_problem(&selectors) {
            err(
                "spec.selectors",
                format!(
                    "the selectors become the value of the tag {TAG_SELECTORS}, which {problem}"
                ),
            );
        }
    }
}

/// ECS allows 50 tags per resource.
pub(super) const MAX_TAGS: usize = 50;

/// The tags the controller writes on the group's service: managed-by, group, spec-hash,
/// task-definition and (after a circuit-breaker rollback) rolled-back; the selectors and the
/// keys of the user tags when the group has them.
pub(super) fn own_tag_count(spec: &DelegateGroupSpec) -> usize {
    5 + usize::from(!spec.selectors.is_empty())
        + usize::from(!spec.tags.is_empty())
        + usize::from(spec.count_range().is_some())
}

/// What ECS refuses in a tag (its model's TagKey and TagValue: key 1 to 128 and value up to
/// 256 characters matching `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`; API_Tag: no `aws:` prefix in any case
/// on either).
pub(super) fn tag_problem(key: &str, value: &str) -> Option<String> {
    if !TAG_KEY.fits(key) {
        return Some("tag keys must be 1 to 128 characters".into());
    }
    if is_aws_reserved(key) {
        return Some("tag keys under aws: are reserved by AWS".into());
    }
    if let Some(c) = TAG_KEY.first_refused(key) {
        return Some(format!("the key has {c:?}; {TAG_CHARACTERS}"));
    }
    tag_value_problem(value).map(|problem| format!("the value {problem}"))
}

/// What ECS refuses in a tag value; phrased to follow "the value".
pub fn tag_value_problem(value: &str) -> Option<String> {
    if !TAG_VALUE.fits(value) {
        return Some("is longer than 256 characters".into());
    }
    if is_aws_reserved(value) {
        return Some("starts with aws:, which AWS reserves".into());
    }
    let refused = TAG_VALUE.first_refused(value);
    refused.map(|c| format!("has {c:?}; {TAG_CHARACTERS}"))
}

/// What the tag pattern allows, in words.
const TAG_CHARACTERS: &str =
    "ECS allows letters, numbers, spaces (Unicode's categories L, N and Z) and _ . : / = + - @";

pub(super) fn is_aws_reserved(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}
