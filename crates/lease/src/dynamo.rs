//! The lease item in DynamoDB: `{name (S, the partition key), holder (S), version (N),
//! expiresAt (N, the table's TTL attribute: a day after the last write, so abandoned leases go
//! away)}`. Reads are strongly consistent; every write is conditional (PutItem
//! `attribute_not_exists(name)`, UpdateItem `version = :expected`), with every attribute named
//! through a placeholder. With shards, the replicas' items are listed with a strongly
//! consistent Scan filtered to the lease name's prefix.
//! https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::{LeaseError, LeaseErrorKind, LeaseStore, Record};

/// A day: the TTL of a lease item after its last write.
const TTL_SECONDS: u64 = 24 * 3600;

/// The lease table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    /// The table `table` through `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_owned(),
        }
    }

    /// A conditional write's answer: whether it took effect (false when its condition failed).
    fn conditional<T, E, R>(
        &self,
        action: &'static str,
        answer: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
    ) -> Result<bool, LeaseError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match answer {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(self.error(action, &e)),
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        action: &'static str,
        error: &aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> LeaseError {
        let code = error.code().unwrap_or_default();
        let configuration = matches!(
            code,
            "ResourceNotFoundException"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "ValidationException"
        );
        let mut message = error
            .message()
            .map_or_else(|| error.to_string(), str::to_owned);
        if code == "ResourceNotFoundException" {
            message = format!(
                "the table does not exist ({message}); create it with deploy/lease-table.json"
            );
        } else if !code.is_empty() {
            message = format!("{code}: {message}");
        }
        LeaseError {
            action,
            table: self.table.clone(),
            message,
            kind: if configuration {
                LeaseErrorKind::Configuration
            } else {
                LeaseErrorKind::Passing
            },
        }
    }

    fn expires_at() -> AttributeValue {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        AttributeValue::N((now + TTL_SECONDS).to_string())
    }
}

/// The holder and version of an item.
fn record(item: &std::collections::HashMap<String, AttributeValue>) -> Record {
    let holder = item
        .get("holder")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Record { holder, version }
}

fn conditional_failed<E: ProvideErrorMetadata, R>(
    error: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    error.code() == Some("ConditionalCheckFailedException")
}

#[async_trait::async_trait]
impl LeaseStore for DynamoStore {
    async fn read(&self, name: &str) -> Result<Option<Record>, LeaseError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("name", AttributeValue::S(name.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("dynamodb:GetItem", &e))?;
        Ok(answer.item.as_ref().map(record))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Record)>, LeaseError> {
        // A Scan: the table is the controllers' own and holds a few items per replica and
        // shard. Filtered on the server to this prefix, paged until done.
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let answer = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("begins_with(#n, :p)")
                .expression_attribute_names("#n", "name")
                .expression_attribute_values(":p", AttributeValue::S(prefix.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.error("dynamodb:Scan", &e))?;
            for item in answer.items() {
                let Some(name) = item.get("name").and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                if name == prefix || name.starts_with(&format!("{prefix}/")) {
                    items.push((name.clone(), record(item)));
                }
            }
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn create(&self, name: &str, holder: &str) -> Result<bool, LeaseError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("name", AttributeValue::S(name.to_owned()))
            .item("holder", AttributeValue::S(holder.to_owned()))
            .item("version", AttributeValue::N("1".into()))
            .item("expiresAt", Self::expires_at())
            .condition_expression("attribute_not_exists(#n)")
            .expression_attribute_names("#n", "name")
            .send()
            .await;
        self.conditional("dynamodb:PutItem", answer)
    }

    async fn advance(&self, name: &str, holder: &str, version: u64) -> Result<bool, LeaseError> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("name", AttributeValue::S(name.to_owned()))
            // Every attribute through a name placeholder: DynamoDB refuses reserved words
            // (ReservedWords.html) in expressions, and that list is long.
            .update_expression("SET #h = :h, #v = :next, #e = :ttl")
            .condition_expression("#v = :v")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#e", "expiresAt")
            .expression_attribute_values(":h", AttributeValue::S(holder.to_owned()))
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((version + 1).to_string()))
            .expression_attribute_values(":ttl", Self::expires_at())
            .send()
            .await;
        self.conditional("dynamodb:UpdateItem", answer)
    }
}
