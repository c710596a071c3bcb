//! ECS's answers as the controller reads them: the fuzzer's bytes are the body of the HTTP
//! answer to one of the calls the engine makes, through the SDK's own deserializer and the
//! adapter's conversion to observations.

use std::sync::{Arc, Mutex, OnceLock};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use client::call::{self, Answer, Request};
use client::AwsApi as _;

/// Answers every request with the body last set.
#[derive(Debug, Clone, Default)]
struct Canned(Arc<Mutex<Vec<u8>>>);

impl HttpConnector for Canned {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let body = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let status = StatusCode::try_from(200_u16).unwrap_or_else(|_| unreachable!());
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from(body))))
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    answer: Canned,
    ecs: aws::SdkApi,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"));
        let answer = Canned::default();
        let connector = answer.clone();
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                    "fuzz", "fuzz", None, None, "fuzz",
                )))
                // Never reached: the canned client answers before any connection.
                .endpoint_url("http://127.0.0.1:9")
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .http_client(http_client_fn(move |_, _| {
                    SharedHttpConnector::new(connector.clone())
                }))
                .load(),
        );
        let ecs = aws::SdkProvider::new(config).clients(&plan::Target::region("us-east-1"));
        Harness {
            runtime,
            answer,
            ecs,
        }
    })
}

/// `data[0]` picks the call, the rest is its answer's body. The invariant is that the SDK and
/// the conversion end without a panic on any answer.
pub fn run(data: &[u8]) {
    let Some((&call, body)) = data.split_first() else {
        return;
    };
    let h = harness();
    *h.answer
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = body.to_vec();
    let names = vec!["a".to_owned(), "b".to_owned()];
    let cluster = "c".to_owned();
    let request = match call % 5 {
        0 => Request::DescribeServices(call::DescribeServices { cluster, names }),
        1 => Request::DescribeTasks(call::DescribeTasks {
            cluster,
            arns: names,
        }),
        2 => Request::DescribeTaskDefinition(call::DescribeTaskDefinition {
            task_definition: "f:1".into(),
        }),
        3 => Request::DescribeContainerInstances(call::DescribeContainerInstances {
            cluster,
            arns: names,
        }),
        _ => Request::ListServices(call::ListServices {
            cluster,
            next_token: None,
        }),
    };
    h.runtime.block_on(async {
        if let Ok(Answer::DescribeServices(answer)) = h.ecs.call(request).await {
            for s in answer.services {
                // Whatever it says, it came from the answer.
                assert!(s.name.len() + s.arn.len() <= body.len());
            }
            for f in answer.failures {
                assert!(!f.is_missing() && f.name.len() + f.reason.len() <= body.len());
            }
        }
    });
}
