use super::*;

#[test]
fn fargate_table_matches_aws() {
    assert_eq!(fargate_memory_options(256), Some(vec![512, 1024, 2048]));
    assert!(fargate_memory_options(1024).is_some_and(|m| m.contains(&6144)));
    assert!(fargate_memory_options(8192).is_some_and(|m| m.contains(&20480) && !m.contains(&17408)));
    assert_eq!(fargate_memory_options(16384).map(|m| m.len()), Some(12));
    assert_eq!(fargate_memory_options(3000), None);
}

#[test]
fn arn_shapes() {
    assert!(is_role_arn(
        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    ));
    assert!(is_role_arn(
        "arn:aws-us-gov:iam::123456789012:role/path/name"
    ));
    assert!(!is_role_arn("arn:aws:iam::12345678901:role/x"));
    assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
    assert!(is_secret_arn(
        "arn:aws:secretsmanager:us-west-1:123456789012:secret:tok"
    ));
    assert!(is_secret_arn(
        "arn:aws:ssm:us-west-1:123456789012:parameter/harness/tok"
    ));
    assert!(!is_secret_arn("my-token-value"));
}

#[test]
fn urls() {
    assert!(is_http_url("https://app.harness.io/gratis"));
    assert!(is_http_url("http://localhost:8080"));
    assert!(!is_http_url("app.harness.io"));
    assert!(!is_http_url("https://"));
    assert!(!is_http_url("ftp://x"));
}
