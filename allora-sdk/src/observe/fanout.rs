//! One observer that forwards every event to several.

use std::sync::Arc;
use std::time::Duration;

use crate::emissions::EmissionsStatus;
use crate::worker::{Submission, TopicState, WorkerError, WorkerObserver};

/// Forwards every event to each of its observers, in the order they were
/// added. Each observer must itself not block (the [`WorkerObserver`]
/// contract), so forwarding does not either.
#[derive(Clone, Default)]
pub struct FanOut {
    observers: Vec<Arc<dyn WorkerObserver>>,
}

impl FanOut {
    /// A fan-out with no observers yet.
    pub fn new() -> Self {
        FanOut::default()
    }

    /// Adds an observer.
    pub fn with(mut self, observer: Arc<dyn WorkerObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Adds an observer.
    pub fn push(&mut self, observer: Arc<dyn WorkerObserver>) {
        self.observers.push(observer);
    }

    /// How many observers events go to.
    pub fn len(&self) -> usize {
        self.observers.len()
    }

    /// Whether events go nowhere.
    pub fn is_empty(&self) -> bool {
        self.observers.is_empty()
    }
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("observers", &self.observers.len())
            .finish()
    }
}

impl WorkerObserver for FanOut {
    fn submission(&self, submission: &Submission) {
        self.observers.iter().for_each(|o| o.submission(submission));
    }

    fn failure(&self, error: &WorkerError) {
        self.observers.iter().for_each(|o| o.failure(error));
    }

    fn balance(&self, uallo: u128) {
        self.observers.iter().for_each(|o| o.balance(uallo));
    }

    fn inference_latency(&self, topic_id: u64, latency: Duration) {
        self.observers
            .iter()
            .for_each(|o| o.inference_latency(topic_id, latency));
    }

    fn websocket(&self, connected: bool) {
        self.observers.iter().for_each(|o| o.websocket(connected));
    }

    fn block(&self, height: i64) {
        self.observers.iter().for_each(|o| o.block(height));
    }

    fn topic_state(&self, topic_id: u64, state: &TopicState) {
        self.observers
            .iter()
            .for_each(|o| o.topic_state(topic_id, state));
    }

    fn emissions(&self, status: &EmissionsStatus) {
        self.observers.iter().for_each(|o| o.emissions(status));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl WorkerObserver for Recorder {
        fn balance(&self, uallo: u128) {
            self.0.lock().unwrap().push(format!("balance {uallo}"));
        }
        fn block(&self, height: i64) {
            self.0.lock().unwrap().push(format!("block {height}"));
        }
        fn failure(&self, error: &WorkerError) {
            self.0
                .lock()
                .unwrap()
                .push(format!("failure {}", error.kind()));
        }
        fn websocket(&self, connected: bool) {
            self.0
                .lock()
                .unwrap()
                .push(format!("websocket {connected}"));
        }
        fn inference_latency(&self, topic_id: u64, latency: Duration) {
            self.0
                .lock()
                .unwrap()
                .push(format!("latency {topic_id} {}", latency.as_millis()));
        }
        fn submission(&self, s: &Submission) {
            self.0
                .lock()
                .unwrap()
                .push(format!("submission {} {}", s.topic_id, s.nonce));
        }
        fn emissions(&self, status: &EmissionsStatus) {
            self.0.lock().unwrap().push(format!("emissions {status}"));
        }
    }

    #[test]
    fn every_event_reaches_every_observer() {
        let a = Arc::new(Recorder::default());
        let b = Arc::new(Recorder::default());
        let fan = FanOut::new().with(a.clone()).with(b.clone());
        assert_eq!(fan.len(), 2);
        fan.balance(5);
        fan.block(7);
        fan.websocket(true);
        fan.inference_latency(3, Duration::from_millis(40));
        fan.failure(&WorkerError::NotSent {
            topic_id: 1,
            nonce: 2,
        });
        fan.submission(&Submission {
            topic_id: 1,
            nonce: 10,
            outcome: crate::worker::Outcome::Included,
            txhash: None,
            height: None,
            fee: None,
            batch_size: 1,
            latency: crate::worker::Latency::default(),
        });
        fan.emissions(&EmissionsStatus::Unsupported(
            crate::emissions::Unsupported {
                chain: Some(crate::emissions::EmissionsVersion::new(11)),
            },
        ));
        let expected = [
            "balance 5",
            "block 7",
            "websocket true",
            "latency 3 40",
            "failure not_sent",
            "submission 1 10",
            "emissions the chain speaks emissions v11; this build of allora-rs supports v9, v10: upgrade allora-rs",
        ];
        for recorder in [a, b] {
            assert_eq!(*recorder.0.lock().unwrap(), expected);
        }
        assert!(FanOut::new().is_empty());
    }
}
