//! The window book: every window this run has seen, each with its whole
//! state, in one place.
//!
//! A window moves through [`Phase`]s: `Providing` (its provider task runs)
//! -> `Ready` (signed, waiting for a transaction) -> `Submitting` (in a
//! transaction task) -> `Done`, with `Waiting` (to be resent after a
//! backoff) and back to `Ready` (resent at once) on the way. Only the
//! transitions below change a window, and each checks the phase it starts
//! from, so a late answer of a task that no longer owns the window changes
//! nothing. The book also keeps indices of its windows (the ready queue in
//! order, the wake-up times, a count of provider calls), updated by the
//! same transitions, so the event loop never scans every window.

use std::collections::{BTreeSet, HashMap};

use tokio::task::Id as TaskId;
use tokio::time::Instant;

use super::clock::{Deadlines, WindowEnd};
use super::provider::Payload;
use crate::proto::Any;

/// A window: its topic and nonce.
pub(super) type WindowId = (u64, i64);

/// What is fixed about a window from its discovery on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) topic_id: u64,
    pub(super) nonce: i64,
    pub(super) end: WindowEnd,
    pub(super) discovered_at: Instant,
    pub(super) deadlines: Deadlines,
}

impl Window {
    pub(super) fn id(&self) -> WindowId {
        (self.topic_id, self.nonce)
    }
}

/// Where a window stands.
#[derive(Debug)]
pub(super) enum Phase {
    /// Its provider is being asked, by this task.
    Providing { task: TaskId },
    /// Signed, waiting for a transaction; `solo`: to be sent alone.
    Ready { payload: Payload, solo: bool },
    /// In a transaction being sent by this task.
    Submitting {
        task: TaskId,
        payload: Payload,
        solo: bool,
    },
    /// To be sent again at `at`.
    Waiting {
        at: Instant,
        payload: Payload,
        solo: bool,
    },
    /// Over: served, given up, or left to a later discovery. Kept until
    /// long past so that a rediscovery is ignored.
    Done,
}

/// One window and where it stands.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) window: Window,
    pub(super) phase: Phase,
    /// Sends retried after a backoff so far.
    pub(super) retries: u32,
    /// Nothing suggests the chain will refuse its payload (it is new to the
    /// record, its topic's last payload was accepted, it was never sent
    /// before): its transaction may skip simulation.
    pub(super) routine: bool,
}

/// Every window of this run.
#[derive(Debug, Default)]
pub(super) struct WindowBook {
    entries: HashMap<WindowId, Entry>,
    /// Windows in `Ready`, in the order they became ready.
    ready: Vec<WindowId>,
    /// When the oldest of them became ready.
    ready_since: Option<Instant>,
    /// Windows in `Waiting`, by wake-up time.
    waking: BTreeSet<(Instant, WindowId)>,
    /// Windows in `Providing`.
    providing: usize,
}

impl WindowBook {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Whether the window was seen in this run (and not forgotten).
    pub(super) fn contains(&self, id: WindowId) -> bool {
        self.entries.contains_key(&id)
    }

    /// A window and its state.
    pub(super) fn get(&self, id: WindowId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Windows whose provider is being asked.
    pub(super) fn providing(&self) -> usize {
        self.providing
    }

    /// Windows ready for a transaction.
    pub(super) fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// When the oldest ready window became ready.
    pub(super) fn ready_since(&self) -> Option<Instant> {
        self.ready_since
    }

    /// The next time a waiting window is due.
    pub(super) fn next_wake(&self) -> Option<Instant> {
        self.waking.first().map(|(at, _)| *at)
    }

    /// A new window whose provider task `task` was started (`routine`: see
    /// [`Entry::routine`]).
    pub(super) fn open(&mut self, window: Window, task: TaskId, routine: bool) {
        self.insert(window, Phase::Providing { task });
        if let Some(entry) = self.entries.get_mut(&window.id()) {
            entry.routine = routine;
        }
        self.providing += 1;
    }

    /// Whether every one of the windows is routine.
    pub(super) fn all_routine(&self, ids: &[WindowId]) -> bool {
        ids.iter()
            .all(|id| self.entries.get(id).is_some_and(|e| e.routine))
    }

    /// A new window that needs nothing more (final in the record, or found
    /// too late): remembered so a rediscovery is ignored.
    pub(super) fn close(&mut self, window: Window) {
        self.insert(window, Phase::Done);
    }

    fn insert(&mut self, window: Window, phase: Phase) {
        let previous = self.entries.insert(
            window.id(),
            Entry {
                window,
                phase,
                retries: 0,
                routine: false,
            },
        );
        if let Some(previous) = previous {
            self.unindex(window.id(), &previous.phase);
        }
    }

    /// The provider answered: the window is ready. False when the window is
    /// not waiting for a provider.
    pub(super) fn provided(&mut self, id: WindowId, payload: Payload, now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        if !matches!(entry.phase, Phase::Providing { .. }) {
            return false;
        }
        entry.phase = Phase::Ready {
            payload,
            solo: false,
        };
        self.providing = self.providing.saturating_sub(1);
        self.push_ready(id, now);
        true
    }

    fn push_ready(&mut self, id: WindowId, now: Instant) {
        self.ready.push(id);
        self.ready_since.get_or_insert(now);
    }

    /// Takes the ready queue, oldest first, with each window's solo flag.
    /// The windows stay `Ready` until [`WindowBook::submitting`].
    pub(super) fn take_ready(&mut self) -> Vec<(WindowId, bool)> {
        self.ready_since = None;
        let ready = std::mem::take(&mut self.ready);
        ready
            .into_iter()
            .filter_map(|id| match self.entries.get(&id).map(|e| &e.phase) {
                Some(Phase::Ready { solo, .. }) => Some((id, *solo)),
                _ => None,
            })
            .collect()
    }

    /// The messages of ready windows, in the order given.
    pub(super) fn messages(&self, ids: &[WindowId]) -> Vec<Any> {
        ids.iter()
            .filter_map(|id| match self.entries.get(id).map(|e| &e.phase) {
                Some(Phase::Ready { payload, .. }) => Some(payload.message.clone()),
                _ => None,
            })
            .collect()
    }

    /// Ready windows went into the transaction of task `task`.
    pub(super) fn submitting(&mut self, ids: &[WindowId], task: TaskId) {
        for id in ids {
            if let Some(entry) = self.entries.get_mut(id) {
                entry.phase = match std::mem::replace(&mut entry.phase, Phase::Done) {
                    Phase::Ready { payload, solo } => Phase::Submitting {
                        task,
                        payload,
                        solo,
                    },
                    other => other,
                };
            }
        }
    }

    /// Sends the window again at once (in the next transaction, alone when
    /// `solo`). False when it is not being sent or waiting.
    pub(super) fn requeue(&mut self, id: WindowId, solo: bool, now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        let (payload, was_solo, at) = match std::mem::replace(&mut entry.phase, Phase::Done) {
            Phase::Submitting { payload, solo, .. } => (payload, solo, None),
            Phase::Waiting { at, payload, solo } => (payload, solo, Some(at)),
            other => {
                entry.phase = other;
                return false;
            }
        };
        entry.phase = Phase::Ready {
            payload,
            solo: solo || was_solo,
        };
        // Sent before: the chain's verdict on it comes from a simulation.
        entry.routine = false;
        if let Some(at) = at {
            self.waking.remove(&(at, id));
        }
        self.push_ready(id, now);
        true
    }

    /// Sends the window again at `at`. False when it is not being sent.
    pub(super) fn wait(&mut self, id: WindowId, at: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        match std::mem::replace(&mut entry.phase, Phase::Done) {
            Phase::Submitting { payload, solo, .. } => {
                entry.phase = Phase::Waiting { at, payload, solo };
                entry.retries += 1;
                entry.routine = false;
                self.waking.insert((at, id));
                true
            }
            other => {
                entry.phase = other;
                false
            }
        }
    }

    /// Waiting windows due at `now`, earliest first (still `Waiting`: the
    /// caller requeues or finishes each).
    pub(super) fn due(&self, now: Instant) -> Vec<WindowId> {
        self.waking
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect()
    }

    /// The window is over.
    pub(super) fn finish(&mut self, id: WindowId) {
        if let Some(entry) = self.entries.get_mut(&id) {
            let previous = std::mem::replace(&mut entry.phase, Phase::Done);
            self.unindex(id, &previous);
        }
    }

    /// Forgets the window, so that a later discovery serves it again.
    pub(super) fn forget(&mut self, id: WindowId) {
        if let Some(entry) = self.entries.remove(&id) {
            self.unindex(id, &entry.phase);
        }
    }

    /// Forgets the windows signed but not sent (ready or waiting) whose
    /// payload `stale` picks, so that a later discovery serves them again.
    /// Returns them.
    pub(super) fn forget_unsent_if(&mut self, stale: impl Fn(&Payload) -> bool) -> Vec<WindowId> {
        let ids: Vec<WindowId> = self
            .entries
            .iter()
            .filter(|(_, e)| match &e.phase {
                Phase::Ready { payload, .. } | Phase::Waiting { payload, .. } => stale(payload),
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.forget(*id);
        }
        ids
    }

    /// Keeps the indices in step with a window leaving `phase`.
    fn unindex(&mut self, id: WindowId, phase: &Phase) {
        match phase {
            Phase::Providing { .. } => self.providing = self.providing.saturating_sub(1),
            Phase::Ready { .. } => {
                self.ready.retain(|r| *r != id);
                if self.ready.is_empty() {
                    self.ready_since = None;
                }
            }
            Phase::Waiting { at, .. } => {
                self.waking.remove(&(*at, id));
            }
            Phase::Submitting { .. } | Phase::Done => {}
        }
    }

    /// The windows a task works on (for a task that failed without
    /// answering).
    pub(super) fn windows_of_task(&self, task: TaskId) -> Vec<WindowId> {
        let mut ids: Vec<WindowId> = self
            .entries
            .iter()
            .filter(|(_, e)| match e.phase {
                Phase::Providing { task: t } | Phase::Submitting { task: t, .. } => t == task,
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Windows that were signed but never went out (ready or waiting), for
    /// the shutdown report.
    pub(super) fn unsent(&self) -> Vec<WindowId> {
        let mut ids: Vec<WindowId> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.phase, Phase::Ready { .. } | Phase::Waiting { .. }))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Drops finished windows for which `long_past` holds.
    pub(super) fn prune(&mut self, long_past: impl Fn(WindowEnd) -> bool) {
        self.entries
            .retain(|_, e| !(matches!(e.phase, Phase::Done) && long_past(e.window.end)));
    }

    /// How many windows the book holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn window(topic_id: u64, nonce: i64, now: Instant) -> Window {
        Window {
            topic_id,
            nonce,
            end: WindowEnd::Height(nonce + 5),
            discovered_at: now,
            deadlines: Deadlines {
                provide_by: now + Duration::from_secs(1),
                send_by: now + Duration::from_secs(2),
                confirm_by: now + Duration::from_secs(5),
            },
        }
    }

    fn payload(byte: u8) -> Payload {
        Payload {
            message: Any {
                type_url: "/t".into(),
                value: vec![byte],
            },
            inference: Duration::from_millis(3),
            has_inference: true,
        }
    }

    /// Task ids come from real tasks.
    async fn task_ids(n: usize) -> Vec<TaskId> {
        let mut set = tokio::task::JoinSet::new();
        (0..n).map(|_| set.spawn(async {}).id()).collect()
    }

    #[tokio::test]
    async fn a_window_goes_from_provider_to_transaction_to_done() {
        let now = Instant::now();
        let tasks = task_ids(2).await;
        let mut book = WindowBook::new();
        book.open(window(1, 10, now), tasks[0], true);
        book.open(window(2, 10, now), tasks[0], true);
        assert!(book.contains((1, 10)) && book.providing() == 2);
        assert_eq!(book.windows_of_task(tasks[0]), vec![(1, 10), (2, 10)]);

        assert!(book.provided((1, 10), payload(1), now));
        assert!(!book.provided((1, 10), payload(1), now), "answered once");
        assert!(book.provided((2, 10), payload(2), now));
        assert_eq!(book.providing(), 0);
        assert_eq!(book.ready_len(), 2);
        assert_eq!(book.ready_since(), Some(now));

        let ready = book.take_ready();
        assert_eq!(ready, vec![((1, 10), false), ((2, 10), false)]);
        assert_eq!(book.ready_since(), None);
        let ids: Vec<WindowId> = ready.iter().map(|(id, _)| *id).collect();
        assert_eq!(book.messages(&ids).len(), 2);
        assert!(book.all_routine(&ids));
        book.submitting(&ids, tasks[1]);
        assert_eq!(book.windows_of_task(tasks[1]), ids);
        assert!(book.messages(&ids).is_empty(), "no longer ready");

        book.finish((1, 10));
        book.finish((2, 10));
        assert!(matches!(book.get((1, 10)).unwrap().phase, Phase::Done));
        assert!(book.windows_of_task(tasks[1]).is_empty());
        assert_eq!(book.len(), 2);
        book.prune(|end| end == WindowEnd::Height(15));
        assert_eq!(book.len(), 0);
    }

    #[tokio::test]
    async fn resends_and_waits_keep_the_indices_in_step() {
        let now = Instant::now();
        let tasks = task_ids(2).await;
        let mut book = WindowBook::new();
        for topic in 1..=3 {
            book.open(window(topic, 10, now), tasks[0], true);
            book.provided((topic, 10), payload(topic as u8), now);
        }
        let ids: Vec<WindowId> = book.take_ready().into_iter().map(|(id, _)| id).collect();
        book.submitting(&ids, tasks[1]);

        // 1 resent alone, 2 waits, 3 is forgotten.
        let later = now + Duration::from_millis(10);
        assert!(book.requeue((1, 10), true, later));
        let wake = now + Duration::from_millis(300);
        assert!(book.wait((2, 10), wake));
        assert!(!book.wait((2, 10), wake), "already waiting");
        book.forget((3, 10));
        assert!(!book.contains((3, 10)));

        assert_eq!(book.ready_len(), 1);
        assert_eq!(book.ready_since(), Some(later));
        assert!(!book.all_routine(&[(1, 10)]), "resent: simulated");
        assert!(!book.all_routine(&[(2, 10)]), "waited: simulated");
        assert_eq!(book.next_wake(), Some(wake));
        assert!(book.due(now).is_empty());
        assert_eq!(book.due(wake), vec![(2, 10)]);
        assert_eq!(book.get((2, 10)).unwrap().retries, 1);
        assert_eq!(book.unsent(), vec![(1, 10), (2, 10)]);

        // Due: back to ready, after the solo one.
        assert!(book.requeue((2, 10), false, wake));
        assert_eq!(book.next_wake(), None);
        assert_eq!(book.take_ready(), vec![((1, 10), true), ((2, 10), false)]);

        // Finishing a ready or waiting window takes it out of the indices.
        book.wait((2, 10), wake); // not submitting: refused
        assert!(book.next_wake().is_none());
        book.finish((1, 10));
        book.finish((2, 10));
        assert!(book.take_ready().is_empty());
        assert!(book.unsent().is_empty());
    }

    #[tokio::test]
    async fn a_failed_provider_and_a_rediscovered_window() {
        let now = Instant::now();
        let tasks = task_ids(1).await;
        let mut book = WindowBook::new();
        book.open(window(1, 10, now), tasks[0], false);
        book.finish((1, 10));
        assert_eq!(book.providing(), 0);
        assert!(
            !book.provided((1, 10), payload(1), now),
            "a late answer changes nothing"
        );
        book.close(window(2, 10, now));
        assert!(book.contains((2, 10)));
        assert_eq!(book.providing(), 0);
        // Forgotten, then found again: served as new.
        book.forget((1, 10));
        book.open(window(1, 10, now), tasks[0], false);
        assert_eq!(book.providing(), 1);
    }
}
