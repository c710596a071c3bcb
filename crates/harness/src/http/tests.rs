use super::*;

#[test]
fn parses_the_nextgen_listing() {
    let answer: RestResponse = serde_json::from_str(
        r#"{"metaData":{},"resource":[{"type":"DOCKER","name":"ng","description":"",
        "tags":["ecs"],"lastHeartBeat":1700000000000,"connected":true,
        "delegateReplicas":[{"uuid":"u1","lastHeartbeat":1700000000000,"connected":true,
        "hostName":"ip-10-0-0-1","version":"25.01.84800","expiringAt":1900000000000},
        {"uuid":"u2","lastHeartbeat":1600000000000,"hostName":"ip-10-0-0-2",
        "version":"25.01.84800","expiringAt":1900000000000}],"autoUpgrade":"OFF",
        "legacy":false,"orgName":null,"projectName":null}],"responseMessages":[]}"#,
    )
    .unwrap();
    let delegates = answer.delegates();
    assert_eq!(delegates.len(), 2);
    assert_eq!(delegates[0].name, "ng");
    assert_eq!(delegates[0].host, "ip-10-0-0-1");
    assert!(delegates[0].connected && delegates[1].connected);
    assert_eq!(delegates[0].expiring_at, Some(1_900_000_000_000));
}

#[test]
fn parses_the_firstgen_listing() {
    let answer: GraphQlResponse = serde_json::from_str(
        r#"{"data":{"delegateList":{"nodes":[
        {"delegateName":"fg","hostName":"h1","status":"ENABLED","disconnected":false,
         "lastHeartBeat":1700000000000,"version":"1.0.77221"},
        {"delegateName":"fg","hostName":"h2","status":"ENABLED","disconnected":true,
         "lastHeartBeat":1600000000000,"version":"1.0.77221"},
        {"delegateName":"fg","hostName":"h3","status":"WAITING_FOR_APPROVAL",
         "disconnected":false,"lastHeartBeat":1700000000000,"version":"1.0.77221"}]}}}"#,
    )
    .unwrap();
    let nodes = answer.data.unwrap().delegate_list.unwrap().nodes;
    let connected: Vec<bool> = nodes
        .into_iter()
        .map(|n| n.into_delegate().connected)
        .collect();
    assert_eq!(connected, [true, false, false]);
}

#[test]
fn the_key_is_never_printed() {
    let key = ApiKey::new("pat.secret.value\n");
    assert!(!format!("{key:?}").contains("secret"));
    assert!(key.header().unwrap().is_sensitive());
}

/// An answer that announces more than the cap is refused without reading it; one that
/// sends more than it announced (or announces nothing) is cut at the cap.
#[tokio::test]
async fn answers_past_the_cap_are_refused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for announced in [true, false] {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let _ = socket.read(&mut request).await;
            let head = if announced {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                    MAX_ANSWER_BYTES + 1
                )
            } else {
                "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned()
            };
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..=(MAX_ANSWER_BYTES >> 20) {
                if socket.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let origins = AllowedOrigins::parse(&[format!("http://{addr}")]).unwrap();
    let harness = HttpHarness::new(ApiKey::new("k"), Duration::from_secs(10), origins).unwrap();
    for _ in 0..2 {
        let url = Url::parse(&format!("http://{addr}/ng/api/x")).unwrap();
        let answer = harness.post(url, &serde_json::json!({})).await;
        assert!(
            matches!(&answer, Err(HarnessFailure::Unreachable(m)) if m.ends_with("an answer larger than 16 MiB")),
            "{:?}",
            answer.map(|b| b.len())
        );
    }
}

#[test]
fn graphql_errors_and_odd_shapes_are_told_apart() {
    let page = parse_firstgen(br#"{"data":null,"errors":[{"message":"not allowed"}]}"#).unwrap();
    assert_eq!(page.error.as_deref(), Some("not allowed"));
    assert!(parse_nextgen(b"\"text\"").is_err());
    assert_eq!(parse_nextgen(b"{}").unwrap(), Vec::new());
}

#[test]
fn origins_are_https_or_loopback_http_without_a_path() {
    let ok = AllowedOrigins::parse(&[
        "https://app.harness.io",
        "https://harness.example.com:8443/",
        "http://127.0.0.1:18080",
        "http://[::1]:9",
        "http://localhost:3000",
    ])
    .unwrap();
    assert!(ok.allows_str("https://app.harness.io/gratis"));
    assert!(ok.allows_str("https://harness.example.com:8443/ng"));
    assert!(
        !ok.allows_str("https://harness.example.com/ng"),
        "another port"
    );
    assert!(!ok.allows_str("http://app.harness.io/"), "another scheme");
    assert!(!ok.allows_str("https://app.harness.io.evil.example/"));
    for bad in [
        "http://app.harness.io",
        "http://10.0.0.1",
        "https://app.harness.io/gateway",
        "https://user:pw@app.harness.io",
        "ftp://app.harness.io",
        "app.harness.io",
    ] {
        assert!(AllowedOrigins::parse(&[bad]).is_err(), "{bad}");
    }
}

#[test]
fn parses_the_latest_supported_version_and_refuses_what_is_no_image_tag() {
    let answer = br#"{"metaData":{},"resource":{"latestSupportedVersion":"24.04.82804",
        "latestSupportedMinimalVersion":"24.04.82804.minimal"},"responseMessages":[]}"#;
    let supported = parse_latest(answer).unwrap();
    assert_eq!(supported.latest, "24.04.82804");
    assert_eq!(supported.minimal, "24.04.82804.minimal");
    for hostile in [
        "24.04.1@sha256:00",
        "evil.example/harness:1",
        "",
        "-flag",
        "a b",
        &"9".repeat(129),
    ] {
        let body = serde_json::json!({"resource": {"latestSupportedVersion": hostile,
            "latestSupportedMinimalVersion": "1.minimal"}});
        let refused = parse_latest(body.to_string().as_bytes());
        assert!(refused.is_err(), "{hostile:?}");
    }
    assert!(parse_latest(br#"{"resource":null}"#).is_err());
}

/// Harness's GraphQL refusal of a key is told apart from a query Harness could not run.
#[test]
fn a_graphql_refusal_is_told_from_other_errors() {
    assert!(refuses_access(
        "Exception while fetching data (/delegateList) : Not authorized"
    ));
    assert!(refuses_access(
        "User does not have permission to view delegates"
    ));
    assert!(!refuses_access(
        "Exception while fetching data (/delegateList) : An error has occurred. Please contact the Harness support team."
    ));
    assert!(!refuses_access("Validation error of type FieldUndefined"));
}
