use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// The lease item in memory, with a switch that makes every call fail (a lost connection).
#[derive(Default)]
struct Memory {
    record: Mutex<Option<Record>>,
    down: AtomicBool,
}

impl Memory {
    fn check(&self) -> Result<(), LeaseError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LeaseError {
                action: "dynamodb:UpdateItem",
                table: "t".into(),
                message: "connection refused".into(),
                fatal: false,
            });
        }
        Ok(())
    }

    fn holder(&self) -> Option<String> {
        self.record
            .lock()
            .unwrap()
            .as_ref()
            .map(|r| r.holder.clone())
    }
}

#[async_trait::async_trait]
impl LeaseStore for Memory {
    async fn read(&self, _name: &str) -> Result<Option<Record>, LeaseError> {
        self.check()?;
        Ok(self.record.lock().unwrap().clone())
    }

    async fn create(&self, _name: &str, holder: &str) -> Result<bool, LeaseError> {
        self.check()?;
        let mut record = self.record.lock().unwrap();
        if record.is_some() {
            return Ok(false);
        }
        *record = Some(Record {
            holder: holder.into(),
            version: 1,
        });
        Ok(true)
    }

    async fn advance(&self, _name: &str, holder: &str, version: u64) -> Result<bool, LeaseError> {
        self.check()?;
        let mut record = self.record.lock().unwrap();
        match record.as_mut() {
            Some(r) if r.version == version => {
                r.holder = holder.into();
                r.version += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn timing() -> Timing {
    Timing {
        duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry: Duration::from_secs(2),
    }
}

fn pair() -> (Arc<Memory>, Elector, Elector) {
    let store = Arc::new(Memory::default());
    let a = Elector::new(store.clone(), "l", "a", timing());
    let b = Elector::new(store.clone(), "l", "b", timing());
    (store, a, b)
}

#[tokio::test(start_paused = true)]
async fn one_holder_the_other_waits() {
    let (store, a, b) = pair();
    a.round().await.unwrap();
    b.round().await.unwrap();
    assert!(a.is_leader());
    assert!(!b.is_leader());
    for _ in 0..20 {
        tokio::time::advance(Duration::from_secs(2)).await;
        a.round().await.unwrap();
        b.round().await.unwrap();
        assert!(a.is_leader() && !b.is_leader());
    }
    assert_eq!(store.holder().as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn a_paused_holder_stops_writing_before_another_may_take_over() {
    let (store, a, b) = pair();
    a.round().await.unwrap();
    b.round().await.unwrap();
    // a is paused: no renew. Its gate closes at the renew deadline...
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(!a.is_leader(), "closed at the renew deadline");
    // ...while b, which saw the lease unchanged only since its first look, still waits.
    b.round().await.unwrap();
    assert!(!b.is_leader());
    tokio::time::advance(Duration::from_secs(5)).await;
    b.round().await.unwrap();
    assert!(
        b.is_leader(),
        "taken after a whole lease duration unchanged"
    );
    assert_eq!(store.holder().as_deref(), Some("b"));
    // a resumes: its renew fails on the version, it knows it lost, its gate stays closed.
    a.round().await.unwrap();
    assert!(!a.is_leader());
    assert_eq!(a.transitions(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_cannot_reach_the_table_closes_its_gate_at_the_deadline() {
    let (store, a, _b) = pair();
    a.round().await.unwrap();
    store.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        tokio::time::advance(Duration::from_secs(2)).await;
        a.round().await.unwrap();
    }
    assert!(a.is_leader(), "8 s after the last renew");
    tokio::time::advance(Duration::from_secs(2)).await;
    a.round().await.unwrap();
    assert!(!a.is_leader(), "10 s: the renew deadline");
}

#[tokio::test(start_paused = true)]
async fn release_hands_over_within_one_retry() {
    let (store, a, b) = pair();
    a.round().await.unwrap();
    b.round().await.unwrap();
    a.release().await;
    assert_eq!(store.holder().as_deref(), Some(""));
    assert!(!a.is_leader());
    tokio::time::advance(Duration::from_secs(2)).await;
    b.round().await.unwrap();
    assert!(b.is_leader());
}

#[test]
fn timing_is_checked() {
    assert!(Timing::default().check().is_ok());
    let bad = Timing {
        renew_deadline: Duration::from_secs(15),
        ..Timing::default()
    };
    assert!(bad.check().is_err());
}
