//! Harness's answers: the NextGen listing, a FirstGen GraphQL page and the latest supported
//! version, then what the controller derives from them.

/// Parses `data` as both answers.
pub fn run(data: &[u8]) {
    if let Ok(delegates) = harness::parse_nextgen(data) {
        for d in &delegates {
            assert!(d.name.len() <= data.len(), "a name longer than the answer");
        }
    }
    if let Ok(page) = harness::parse_firstgen(data) {
        assert!(page.delegates.len() <= data.len());
    }
    if let Ok(supported) = harness::parse_latest(data) {
        for version in [&supported.latest, &supported.minimal] {
            assert!(spec::validate::is_image_tag(version), "{version:?}");
        }
    }
}
