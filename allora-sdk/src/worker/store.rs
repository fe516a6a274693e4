//! The persisted record of which (topic, nonce) windows were served, so a
//! restarted worker neither submits twice nor skips a window.
//!
//! The record is an append-only JSON-lines file under the worker's data
//! directory. A window is written as `pending` when its transaction goes
//! out, then `confirmed` or `abandoned`; a window found `pending` at start
//! is served again (the chain refuses a second payload for it, which counts
//! as served), one found final is not. Each write is flushed to disk
//! before the call returns; [`SubmissionStore::record_many`] writes several
//! windows with one flush. On open the file is folded (last state wins) and
//! rewritten compactly, keeping the newest windows per topic.
//!
//! Writing blocks (a small write and an fsync). The worker never writes from
//! its event loop: its record writer task takes every write and flushes
//! concurrent ones together.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// How many windows per topic the record keeps.
const KEEP_PER_TOPIC: usize = 256;
/// The record's file name inside the data directory.
pub const STORE_FILE: &str = "submissions.jsonl";

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// File I/O failed.
    #[error("submission record {path}: {source}")]
    Io {
        /// The record file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the record is not valid.
    #[error("submission record {path}, line {line}: {reason}; move the file away to start afresh")]
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// What is known of one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WindowState {
    /// A transaction carrying the payload is being sent (or was sent and
    /// not seen in a block).
    Pending {
        /// Its hash, once known.
        tx: Option<String>,
    },
    /// The payload is on chain (or the chain said it already had one).
    Confirmed {
        /// The transaction hash, when known.
        tx: Option<String>,
        /// The block height, when known.
        height: Option<i64>,
    },
    /// The window was given up, for the stated reason.
    Abandoned {
        /// Why.
        reason: String,
    },
}

impl WindowState {
    /// Whether nothing more is to be done for the window.
    pub fn is_final(&self) -> bool {
        !matches!(self, WindowState::Pending { .. })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    topic: u64,
    nonce: i64,
    #[serde(flatten)]
    state: WindowState,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// Held while appending and flushing (writers queue here).
    file: Mutex<std::fs::File>,
    /// Held only briefly, so readers never wait for a flush.
    windows: Mutex<HashMap<u64, BTreeMap<i64, WindowState>>>,
    /// Flushes done since opening.
    syncs: AtomicU64,
}

/// The submission record. Cloning shares it.
#[derive(Debug, Clone)]
pub struct SubmissionStore {
    inner: Arc<Inner>,
}

impl SubmissionStore {
    /// Opens (creating when missing) the record in `data_dir`. Blocking: call
    /// at start-up or from `spawn_blocking`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(STORE_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut windows = match std::fs::read_to_string(&path) {
            Ok(text) => parse_windows(&text, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(io(e)),
        };
        for per_topic in windows.values_mut() {
            while per_topic.len() > KEEP_PER_TOPIC {
                per_topic.pop_first();
            }
        }
        // Rewrite compactly through a temporary file and an atomic rename.
        let tmp = data_dir.join(format!("{STORE_FILE}.tmp"));
        {
            let mut out = std::fs::File::create(&tmp).map_err(io)?;
            for (topic, per_topic) in &windows {
                for (nonce, state) in per_topic {
                    write_line(&mut out, *topic, *nonce, state).map_err(io)?;
                }
            }
            out.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(SubmissionStore {
            inner: Arc::new(Inner {
                path,
                file: Mutex::new(file),
                windows: Mutex::new(windows),
                syncs: AtomicU64::new(0),
            }),
        })
    }

    fn windows(&self) -> MutexGuard<'_, HashMap<u64, BTreeMap<i64, WindowState>>> {
        // A poisoned lock only means a panic elsewhere while holding it; the
        // map is updated in one step and stays meaningful.
        self.inner.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The known state of a window.
    pub fn get(&self, topic_id: u64, nonce: i64) -> Option<WindowState> {
        self.windows()
            .get(&topic_id)
            .and_then(|w| w.get(&nonce))
            .cloned()
    }

    /// Whether the window's state is final (confirmed or abandoned).
    pub fn is_final(&self, topic_id: u64, nonce: i64) -> bool {
        self.windows()
            .get(&topic_id)
            .and_then(|w| w.get(&nonce))
            .is_some_and(WindowState::is_final)
    }

    /// How many times the record was flushed to disk since it was opened.
    pub fn sync_count(&self) -> u64 {
        self.inner.syncs.load(Ordering::Relaxed)
    }

    /// Windows still pending (broadcast but not known to be included).
    pub fn pending(&self) -> Vec<(u64, i64, Option<String>)> {
        let windows = self.windows();
        let mut out = Vec::new();
        for (topic, per_topic) in windows.iter() {
            for (nonce, state) in per_topic {
                if let WindowState::Pending { tx } = state {
                    out.push((*topic, *nonce, tx.clone()));
                }
            }
        }
        out
    }

    /// Records a state, durably, before returning. Blocking (one small write
    /// and an fsync): async callers use [`SubmissionStore::record_async`].
    pub fn record(&self, topic_id: u64, nonce: i64, state: WindowState) -> Result<(), StoreError> {
        self.record_many(vec![(topic_id, nonce, state)])
    }

    /// Records the states of several windows, durably, with one flush.
    /// Blocking.
    pub fn record_many(&self, entries: Vec<(u64, i64, WindowState)>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for (topic, nonce, state) in &entries {
            push_line(&mut text, *topic, *nonce, state).map_err(|source| self.io(source))?;
        }
        {
            let mut file = self.inner.file.lock().unwrap_or_else(|e| e.into_inner());
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|source| self.io(source))?;
            self.inner.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let mut windows = self.windows();
        for (topic, nonce, state) in entries {
            let per_topic = windows.entry(topic).or_default();
            per_topic.insert(nonce, state);
            while per_topic.len() > KEEP_PER_TOPIC {
                per_topic.pop_first();
            }
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.inner.path.clone(),
            source,
        }
    }

    /// [`SubmissionStore::record_many`], off the async runtime.
    pub async fn record_async(
        &self,
        entries: Vec<(u64, i64, WindowState)>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.record_many(entries))
            .await
            .map_err(|e| self.io(std::io::Error::other(e.to_string())))?
    }
}

/// The windows of a record's text, by topic and nonce (the last state of
/// each wins).
fn parse_windows(
    text: &str,
    path: &Path,
) -> Result<HashMap<u64, BTreeMap<i64, WindowState>>, StoreError> {
    let mut windows: HashMap<u64, BTreeMap<i64, WindowState>> = HashMap::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line) {
            Ok(l) => {
                windows.entry(l.topic).or_default().insert(l.nonce, l.state);
            }
            // A torn last line is what a crash mid-append leaves;
            // anything earlier is real corruption.
            Err(_) if lines.peek().is_none() => {
                tracing::warn!(path = %path.display(), "dropping a torn last line of the submission record");
            }
            Err(e) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(windows)
}

/// Parses the text of a submission record as [`SubmissionStore::open`]
/// does, without touching the disk: every window's last state, ordered by
/// topic and nonce. A torn last line is dropped; an earlier bad line is
/// [`StoreError::Corrupt`]. Exposed for tools and fuzzing.
pub fn parse_record(text: &str) -> Result<Vec<(u64, i64, WindowState)>, StoreError> {
    let windows = parse_windows(text, Path::new(STORE_FILE))?;
    Ok(ordered(windows))
}

/// Reads the record under `data_dir` without rewriting it, so it is safe
/// while a worker runs (unlike [`SubmissionStore::open`], which compacts the
/// file): every window's last state, ordered by topic and nonce, parsed as
/// [`parse_record`] does. No record yet is an empty list.
pub async fn read_record(data_dir: &Path) -> Result<Vec<(u64, i64, WindowState)>, StoreError> {
    let path = data_dir.join(STORE_FILE);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let windows = parse_windows(&text, &path)?;
    Ok(ordered(windows))
}

/// The file, in the data directory, where a running worker keeps each
/// topic's state (serving, or suspended and why), for `status` to read.
pub const TOPIC_STATES_FILE: &str = "topics.json";

#[derive(Debug, Serialize, Deserialize)]
struct TopicStates {
    topics: BTreeMap<u64, super::TopicState>,
}

/// Writes each topic's state to [`TOPIC_STATES_FILE`] in `data_dir`,
/// atomically (a temporary file, then a rename). Blocking.
pub fn write_topic_states(
    data_dir: &Path,
    states: &[(u64, super::TopicState)],
) -> Result<(), StoreError> {
    let path = data_dir.join(TOPIC_STATES_FILE);
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let body = TopicStates {
        topics: states.iter().cloned().collect(),
    };
    let text = serde_json::to_string_pretty(&body).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = data_dir.join(format!("{TOPIC_STATES_FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Reads the topic states a worker running on `data_dir` last wrote (none
/// when it never did).
pub async fn read_topic_states(
    data_dir: &Path,
) -> Result<BTreeMap<u64, super::TopicState>, StoreError> {
    let path = data_dir.join(TOPIC_STATES_FILE);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    serde_json::from_str::<TopicStates>(&text)
        .map(|states| states.topics)
        .map_err(|e| StoreError::Corrupt {
            path,
            line: e.line(),
            reason: e.to_string(),
        })
}

/// Every window of a parsed record, ordered by topic and nonce.
fn ordered(windows: HashMap<u64, BTreeMap<i64, WindowState>>) -> Vec<(u64, i64, WindowState)> {
    let mut out: Vec<(u64, i64, WindowState)> = windows
        .into_iter()
        .flat_map(|(topic, per_topic)| {
            per_topic
                .into_iter()
                .map(move |(nonce, state)| (topic, nonce, state))
        })
        .collect();
    out.sort_by_key(|(topic, nonce, _)| (*topic, *nonce));
    out
}

fn write_line(
    out: &mut impl Write,
    topic: u64,
    nonce: i64,
    state: &WindowState,
) -> std::io::Result<()> {
    let mut text = String::new();
    push_line(&mut text, topic, nonce, state)?;
    out.write_all(text.as_bytes())
}

/// Appends one record line (with its newline) to `text`.
fn push_line(
    text: &mut String,
    topic: u64,
    nonce: i64,
    state: &WindowState,
) -> std::io::Result<()> {
    let line = Line {
        topic,
        nonce,
        state: state.clone(),
    };
    text.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
    text.push('\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_and_folds_to_the_last_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = SubmissionStore::open(dir.path()).unwrap();
        store
            .record(
                1,
                100,
                WindowState::Pending {
                    tx: Some("AA".into()),
                },
            )
            .unwrap();
        store
            .record(
                1,
                100,
                WindowState::Confirmed {
                    tx: Some("AA".into()),
                    height: Some(101),
                },
            )
            .unwrap();
        store
            .record(
                2,
                100,
                WindowState::Pending {
                    tx: Some("BB".into()),
                },
            )
            .unwrap();
        store
            .record(
                3,
                7,
                WindowState::Abandoned {
                    reason: "window closed".into(),
                },
            )
            .unwrap();
        drop(store);

        let store = SubmissionStore::open(dir.path()).unwrap();
        assert!(store.get(1, 100).unwrap().is_final());
        assert_eq!(
            store.get(2, 100),
            Some(WindowState::Pending {
                tx: Some("BB".into())
            })
        );
        assert_eq!(store.pending(), vec![(2, 100, Some("BB".to_owned()))]);
        assert!(matches!(
            store.get(3, 7),
            Some(WindowState::Abandoned { .. })
        ));
        assert_eq!(store.get(9, 9), None);
        // Compaction left one line per window.
        let text = std::fs::read_to_string(dir.path().join(STORE_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn a_torn_last_line_is_dropped_but_earlier_corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        std::fs::write(
            &path,
            "{\"topic\":1,\"nonce\":5,\"state\":\"pending\",\"tx\":\"AA\"}\n{\"topic\":1,\"no",
        )
        .unwrap();
        let store = SubmissionStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get(1, 5),
            Some(WindowState::Pending {
                tx: Some("AA".into())
            })
        );
        drop(store);

        std::fs::write(
            &path,
            "garbage\n{\"topic\":1,\"nonce\":5,\"state\":\"pending\",\"tx\":\"AA\"}\n",
        )
        .unwrap();
        let err = SubmissionStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { line: 1, .. }), "{err}");
    }

    #[test]
    fn keeps_only_the_newest_windows_per_topic() {
        let dir = tempfile::tempdir().unwrap();
        let store = SubmissionStore::open(dir.path()).unwrap();
        for nonce in 0..(KEEP_PER_TOPIC as i64 + 10) {
            store
                .record(
                    1,
                    nonce,
                    WindowState::Confirmed {
                        tx: None,
                        height: None,
                    },
                )
                .unwrap();
        }
        assert_eq!(store.get(1, 0), None);
        assert!(store.get(1, KEEP_PER_TOPIC as i64 + 9).is_some());
    }

    #[test]
    fn many_windows_are_written_with_one_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = SubmissionStore::open(dir.path()).unwrap();
        let entries = (0..50)
            .map(|topic| (topic, 10, WindowState::Pending { tx: None }))
            .collect();
        store.record_many(entries).unwrap();
        assert_eq!(store.sync_count(), 1);
        store.record_many(Vec::new()).unwrap();
        assert_eq!(store.sync_count(), 1, "nothing to write, nothing flushed");
        drop(store);
        let store = SubmissionStore::open(dir.path()).unwrap();
        assert_eq!(store.pending().len(), 50);
        assert!(!store.is_final(3, 10));
    }

    #[tokio::test]
    async fn read_record_sees_the_last_state_without_rewriting() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_record(dir.path()).await.unwrap().is_empty());
        let lines = [
            r#"{"topic":2,"nonce":10,"state":"pending","tx":"BB"}"#,
            r#"{"topic":1,"nonce":10,"state":"pending","tx":"AA"}"#,
            r#"{"topic":1,"nonce":10,"state":"confirmed","tx":"AA","height":11}"#,
            r#"{"topic":1,"nonce":20,"state":"abandoned","reason":"window missed"}"#,
            r#"{"topic":2,"nonce":"#,
        ];
        let text = lines.join("\n");
        std::fs::write(dir.path().join(STORE_FILE), &text).unwrap();
        let record = read_record(dir.path()).await.unwrap();
        assert_eq!(record.len(), 3);
        assert!(matches!(record[0], (1, 10, WindowState::Confirmed { .. })));
        assert!(matches!(record[1], (1, 20, WindowState::Abandoned { .. })));
        assert!(matches!(&record[2], (2, 10, WindowState::Pending { tx: Some(t) }) if t == "BB"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(STORE_FILE)).unwrap(),
            text
        );
    }

    #[tokio::test]
    async fn topic_states_round_trip_through_their_file() {
        use crate::worker::{SuspendReason, Suspension, TopicState};
        let dir = tempfile::tempdir().unwrap();
        assert!(read_topic_states(dir.path()).await.unwrap().is_empty());
        let suspended = TopicState::Suspended(Suspension {
            reason: SuspendReason::NotPermitted,
            detail: "whitelist".into(),
            since_height: Some(12),
            next_check_height: Some(42),
        });
        write_topic_states(
            dir.path(),
            &[(1, TopicState::Serving), (2, suspended.clone())],
        )
        .unwrap();
        let read = read_topic_states(dir.path()).await.unwrap();
        assert_eq!(read.get(&1), Some(&TopicState::Serving));
        assert_eq!(read.get(&2), Some(&suspended));
        std::fs::write(dir.path().join(TOPIC_STATES_FILE), "{").unwrap();
        assert!(matches!(
            read_topic_states(dir.path()).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn async_recording_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SubmissionStore::open(dir.path()).unwrap();
        store
            .record_async(vec![(4, 40, WindowState::Pending { tx: None })])
            .await
            .unwrap();
        drop(store);
        assert!(SubmissionStore::open(dir.path())
            .unwrap()
            .get(4, 40)
            .is_some());
    }
}
