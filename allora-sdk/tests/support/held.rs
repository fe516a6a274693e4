//! A provider whose first call holds until the test releases it, so that
//! the test can change the chain while a window is being served.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allora_sdk::{AsyncFnProvider, InferError, InferenceProvider, InferenceRequest};
use tokio::sync::Notify;

/// Hands out the held provider and lets the test see and end the hold.
#[derive(Default)]
pub struct HeldFirstCall {
    calls: Arc<AtomicUsize>,
    started: Arc<Notify>,
    release: Arc<Notify>,
}

impl HeldFirstCall {
    /// A provider answering `value`, whose first call waits for
    /// [`release`](Self::release).
    pub fn provider(&self, value: f64) -> Arc<dyn InferenceProvider> {
        let (calls, started, release) = (
            Arc::clone(&self.calls),
            Arc::clone(&self.started),
            Arc::clone(&self.release),
        );
        Arc::new(AsyncFnProvider::new(move |_: InferenceRequest| {
            let hold = calls.fetch_add(1, Ordering::SeqCst) == 0;
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            async move {
                if hold {
                    started.notify_one();
                    release.notified().await;
                }
                Ok::<f64, InferError>(value)
            }
        }))
    }

    /// Waits (up to 10 s) until the first call is being held.
    pub async fn started(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.started.notified())
            .await
            .expect("the first window reaches its provider");
    }

    /// Lets the first call answer.
    pub fn release(&self) {
        self.release.notify_one();
    }

    /// How many calls the provider has had.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}
