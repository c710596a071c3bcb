use super::*;
use serde_json::json;

#[test]
fn merge_diff_round_trips() {
    let from = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
    let to = json!({"a": 1, "b": {"c": 5}, "e": [1, 2], "f": "x"});
    let patch = merge_diff(&from, &to).unwrap();
    assert_eq!(
        patch,
        json!({"b": {"c": 5, "d": null}, "e": [1, 2], "f": "x"})
    );
    let mut applied = from.clone();
    json_patch::merge(&mut applied, &patch);
    assert_eq!(applied, to);
    assert_eq!(merge_diff(&to, &to), None);
}

#[test]
fn names_become_dns_labels() {
    assert_eq!(dns_label("My_Delegate.Prod"), "my-delegate-prod");
    assert_eq!(dns_label("--"), "delegate");
}
