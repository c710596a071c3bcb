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
    /// With `spec.delegate.version`: the image it resolved to and where the version came from.
    pub version: Option<VersionNote>,
}

/// The delegate version a group runs, for `plan` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionNote {
    /// The image with its tag (`harness/delegate:25.01.84800`); absent while `auto` is not
    /// resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the version came from.
    pub source: String,
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
        let delegate = &group.spec.delegate;
        let version = delegate.version.as_ref().map(|v| match v.wanted() {
            spec::WantedVersion::Pinned(_) => VersionNote {
                image: Some(spec::render::image(delegate)),
                source: "pinned (spec.delegate.version)".into(),
            },
            spec::WantedVersion::Auto(track) => VersionNote {
                image: delegate
                    .resolved_version
                    .as_ref()
                    .map(|_| spec::render::image(delegate)),
                source: format!("auto ({}): Harness not asked yet", track_name(track)),
            },
        });
        Ok(DesiredGroup {
            target: Target::of(group.spec.account.as_ref(), &region),
            group,
            rendered,
            version,
        })
    }

    /// This group with `version: auto` resolved to `version` (Harness's answer, described by
    /// `source`), rendered again.
    ///
    /// # Errors
    /// As [`DesiredGroup::new`].
    pub fn resolved(&self, version: &str, source: String) -> Result<Self, spec::RenderError> {
        let mut group = self.group.clone();
        group.spec.delegate.resolved_version = Some(version.to_owned());
        let mut resolved = DesiredGroup::new(group, &self.target.region)?;
        if let Some(note) = resolved.version.as_mut() {
            note.source = source;
        }
        Ok(resolved)
    }

    /// `version: auto` that Harness has not answered: nothing may be written from it.
    pub fn unresolved(&self) -> bool {
        let delegate = &self.group.spec.delegate;
        delegate.auto_track().is_some() && delegate.resolved_version.is_none()
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
        if self.rendered.scaling.is_some() {
            tags.insert(spec::render::TAG_SCALING.into(), "registered".into());
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

/// `latest` or `minimal`.
pub fn track_name(track: spec::Track) -> &'static str {
    match track {
        spec::Track::Latest => "latest",
        spec::Track::Minimal => "minimal",
    }
}
