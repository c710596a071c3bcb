//! The queue EventBridge's rule delivers to: long polling (ReceiveMessage with a wait of up to
//! 20 s, 10 messages at most), and DeleteMessageBatch once a batch was handled. A message not
//! deleted comes back after the queue's visibility timeout, and after `maxReceiveCount`
//! receives goes to the dead-letter queue of its redrive policy (deploy/events-queue.json).

use std::time::{Duration, SystemTime};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

/// One message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The event, as EventBridge wrote it.
    pub body: String,
    /// What deletes it.
    pub receipt: String,
    /// When EventBridge sent it (`SentTimestamp`).
    pub sent: Option<SystemTime>,
}

/// A queue call that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} on {queue}: {message}")]
pub struct QueueError {
    /// e.g. `sqs:ReceiveMessage`.
    pub action: &'static str,
    /// The queue URL.
    pub queue: String,
    /// What went wrong.
    pub message: String,
}

/// Where events come from.
#[async_trait::async_trait]
pub trait EventQueue: Send + Sync {
    /// Up to 10 messages, waiting up to `wait` for the first.
    async fn receive(&self, wait: Duration) -> Result<Vec<Message>, QueueError>;
    /// Deletes handled messages.
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError>;
    /// The queue, for logs and status.
    fn name(&self) -> &str;
}

/// An SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url` through `client`.
    pub fn new(client: aws_sdk_sqs::Client, url: &str) -> Self {
        SqsQueue {
            client,
            url: url.to_owned(),
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        action: &'static str,
        error: &aws_sdk_sqs::error::SdkError<E, R>,
    ) -> QueueError {
        let message = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => format!("{}", aws_sdk_sqs::error::DisplayErrorContext(error)),
        };
        QueueError {
            action,
            queue: self.url.clone(),
            message,
        }
    }
}

#[async_trait::async_trait]
impl EventQueue for SqsQueue {
    async fn receive(&self, wait: Duration) -> Result<Vec<Message>, QueueError> {
        let seconds = i32::try_from(wait.as_secs().min(20)).unwrap_or(20);
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(seconds)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.error("sqs:ReceiveMessage", &e))?;
        Ok(answer
            .messages()
            .iter()
            .filter_map(|m| {
                let sent = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
                Some(Message {
                    body: m.body()?.to_owned(),
                    receipt: m.receipt_handle()?.to_owned(),
                    sent,
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .ok()
                })
                .collect();
            let answer = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error("sqs:DeleteMessageBatch", &e))?;
            if let Some(failed) = answer.failed().first() {
                return Err(QueueError {
                    action: "sqs:DeleteMessageBatch",
                    queue: self.url.clone(),
                    message: format!(
                        "{} message(s) not deleted: {}",
                        answer.failed().len(),
                        failed.message().unwrap_or(failed.code())
                    ),
                });
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        &self.url
    }
}
