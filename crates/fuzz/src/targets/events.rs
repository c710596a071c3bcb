//! An SQS message body through the EventBridge event parser, then mapped to groups.

use std::sync::OnceLock;

use plan::DesiredGroup;

fn fleet() -> &'static (events::Index, events::Identity) {
    static FLEET: OnceLock<(events::Index, events::Identity)> = OnceLock::new();
    FLEET.get_or_init(|| {
        let groups = [
            DesiredGroup::test("harness-delegate")
                .cluster("delegates")
                .build(),
            DesiredGroup::test("remote")
                .cluster("delegates")
                .in_account("111122223333", None)
                .build(),
            DesiredGroup::test("batch")
                .cluster("delegates")
                .tasks_mode()
                .build(),
        ];
        (
            events::Index::new(groups.iter()),
            events::Identity::new(
                Some("123456789012".into()),
                Some("arn:aws:sts::123456789012:assumed-role/controller/s"),
            ),
        )
    })
}

/// Parses `data` as a message body (SQS bodies are text) and routes the event.
pub fn run(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = events::parse(body) else {
        return;
    };
    let (index, identity) = fleet();
    let names = index.groups(&event, Some("123456789012"));
    let known = ["harness-delegate", "remote", "batch"];
    assert!(
        names.iter().all(|n| known.contains(&n.as_str())),
        "an event named a group that does not exist: {names:?}"
    );
    if let events::Kind::ApiCall {
        caller: Some(caller),
        ..
    } = &event.kind
    {
        let _ = identity.is_own(caller, index);
    }
}
