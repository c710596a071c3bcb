//! What a group should look like in ECS: the validated resource, rendered for its region.

use std::collections::BTreeMap;

use spec::document::Tag;
use spec::render::{
    encode_tag_keys, TAG_GROUP, TAG_MANAGED_BY, TAG_SPEC_HASH, TAG_TAG_KEYS, TAG_TASK_DEFINITION,
};
use spec::{DelegateGroup, Mode, Rendered};

use crate::target::Target;

/// One group, ready to be compared with ECS.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredGroup {
    /// The resource as written.
    pub group: DelegateGroup,
    /// The account (`spec.account`) and region (`spec.region`, else the configuration chain's)
    /// it runs in.
    pub target: Target,
    /// Its documents and spec-hash.
    pub rendered: Rendered,
}

impl DesiredGroup {
    /// Renders `group` for `region`.
    ///
    /// # Errors
    /// When `taskDefinitionOverrides` does not produce a task definition (validation catches
    /// this first).
    pub fn new(group: DelegateGroup, default_region: &str) -> Result<Self, spec::RenderError> {
        let region = group
            .spec
            .region
            .clone()
            .unwrap_or_else(|| default_region.to_owned());
        let rendered = spec::render(&group, &region)?;
        Ok(DesiredGroup {
            target: Target::of(group.spec.account.as_ref(), &region),
            group,
            rendered,
        })
    }

    /// The group name.
    pub fn name(&self) -> &str {
        &self.group.metadata.name
    }

    /// The cluster as written (name or ARN).
    pub fn cluster(&self) -> &str {
        &self.group.spec.cluster
    }

    /// The ECS service name.
    pub fn service_name(&self) -> &str {
        self.group.service_name()
    }

    /// Service or tasks.
    pub fn mode(&self) -> Mode {
        self.group.spec.mode
    }

    /// The tags that claim a resource for this controller and group (adoption's first write).
    pub fn claim_tags(&self, controller_id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_MANAGED_BY.to_owned(), controller_id.to_owned()),
            (TAG_GROUP.to_owned(), self.name().to_owned()),
        ])
    }

    /// Tags every resource of the group carries: the user's, the selectors and ownership.
    pub fn ownership_tags(&self, controller_id: &str) -> BTreeMap<String, String> {
        let mut tags: BTreeMap<String, String> = self
            .rendered
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        tags.insert(TAG_MANAGED_BY.into(), controller_id.into());
        tags.insert(TAG_GROUP.into(), self.name().into());
        tags.insert(TAG_SPEC_HASH.into(), self.rendered.spec_hash.clone());
        tags
    }

    /// Tags of the service: ownership, the task definition it was last pointed at, and the
    /// keys of the user tags written (so that one the spec drops can be removed).
    pub fn service_tags(
        &self,
        controller_id: &str,
        task_definition: &str,
    ) -> BTreeMap<String, String> {
        let mut tags = self.ownership_tags(controller_id);
        tags.insert(TAG_TASK_DEFINITION.into(), task_definition.into());
        if let Some(keys) = encode_tag_keys(self.group.spec.tags.keys()) {
            tags.insert(TAG_TAG_KEYS.into(), keys);
        }
        tags
    }
}

/// Tags as ECS takes them.
pub fn to_tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}
