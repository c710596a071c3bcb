//! Harness's answers: the NextGen listing and a FirstGen GraphQL page, then what the
//! controller derives from them.

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
}
