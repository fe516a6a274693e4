//! The `allora-worker` binary as users run it: real processes talking to a
//! devnet over loopback.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allora_devnet::fixtures::TestNet;
use allora_devnet::TopicConfig;
use allora_infer::demo::{Clock, DemoModel};
use allora_infer::server::{router, ServerState};
use allora_sdk::keyfile;
use allora_sdk::keys::{Mnemonic, WorkerKey};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_allora-worker");

/// A command running the binary without any `ALLORA_*` variable (and
/// `RUST_LOG`) of the tests' own environment, which would change what they
/// test or be refused as unknown.
fn worker(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ALLORA_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

fn spawn(mut command: Command) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, BufReader::new(stdout).lines())
}

/// Runs `command` to the end and checks that it succeeded; returns its
/// standard output.
async fn succeeds(command: &mut Command) -> String {
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    stdout
}

/// Runs `command` to the end and checks that it failed; returns its
/// standard error.
async fn fails(command: &mut Command) -> String {
    let output = command.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

/// Runs `command` to the end with `input` on its standard input.
async fn with_input(command: &mut Command, input: &str) -> std::process::Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.stdin(Stdio::piped()).spawn().unwrap();
    // Written, then closed: the end of the input.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

/// Reads lines until one starts with `prefix`; returns every line read.
async fn read_until(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
    limit: Duration,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!("no line starting with {prefix:?} within {limit:?}; got {seen:#?}")
            })
            .unwrap();
        let Some(line) = line else {
            panic!("stdout closed before a line starting with {prefix:?}; got {seen:#?}");
        };
        let done = line.starts_with(prefix);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

async fn rest_of(lines: &mut Lines<BufReader<ChildStdout>>) -> Vec<String> {
    let mut rest = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
    {
        rest.push(line);
    }
    rest
}

/// Reads the rest of the output into `out`, then waits (20 s at most) for
/// the worker to exit successfully.
async fn exits_successfully(
    child: &mut Child,
    lines: &mut Lines<BufReader<ChildStdout>>,
    out: &mut Vec<String>,
) {
    out.extend(rest_of(lines).await);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}\n{out:#?}");
}

fn metrics_addr(lines: &[String]) -> SocketAddr {
    let line = lines
        .iter()
        .find(|l| l.starts_with("metrics on http://"))
        .unwrap();
    let rest = line.trim_start_matches("metrics on http://");
    rest[..rest.find('/').unwrap()].parse().unwrap()
}

/// (topic, nonce, tx, height) of a `submission ...` line.
fn parse_submission(line: &str) -> (u64, i64, String, i64) {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing in {line:?}"))
            .to_owned()
    };
    (
        field("topic").parse().unwrap(),
        field("nonce").parse().unwrap(),
        field("tx"),
        field("height").parse().unwrap(),
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_configuration_submits_to_the_embedded_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = worker(dir.path());
    command.args(["--exit-after", "2", "--metrics-addr", "127.0.0.1:0"]);
    let (mut child, mut lines) = spawn(command);
    let mut out = read_until(&mut lines, "submission ", Duration::from_secs(60)).await;
    exits_successfully(&mut child, &mut lines, &mut out).await;
    assert!(out[0].contains("embedded devnet"), "{out:#?}");
    let submissions: Vec<_> = out
        .iter()
        .filter(|l| l.starts_with("submission "))
        .collect();
    assert!(submissions.len() >= 2, "{out:#?}");
    for line in submissions {
        let (topic, nonce, tx, height) = parse_submission(line);
        assert!((1..=3).contains(&topic));
        assert!(nonce > 0 && height >= nonce);
        assert_eq!(tx.len(), 64, "{line}");
        assert!(line.contains("latency="), "{line}");
    }
    #[cfg(unix)]
    assert_eq!(
        mode(&dir.path().join("allora-worker-data/worker.key")),
        0o600
    );
}

struct TestChain {
    devnet: TestNet,
    key: WorkerKey,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestChain {
    /// The binary run with this chain's config file:
    /// `allora-worker --config <file> <args>`.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = worker(self.config.parent().unwrap());
        command.arg("--config").arg(&self.config).args(args);
        command
    }

    /// Runs `args` with this chain's config file to the end, checks that
    /// it succeeded and returns its standard output.
    async fn succeeds(&self, args: &[&str]) -> String {
        succeeds(&mut self.command(args)).await
    }

    /// Adds topic 3, which the worker is not registered in, to the devnet
    /// and to the config file: `edit` changes the file's text first, and
    /// `settings` are more lines of the new topic.
    fn add_unregistered_topic(&self, edit: impl FnOnce(String) -> String, settings: &str) {
        self.devnet.add_topic(TopicConfig::new(3, 6, 4)).unwrap();
        let text = std::fs::read_to_string(&self.config).unwrap();
        let url = text
            .lines()
            .find(|l| l.starts_with("inference_url"))
            .unwrap()
            .to_owned();
        let text = edit(text);
        std::fs::write(
            &self.config,
            format!("{text}\n[[topics]]\nid = 3\ntoken = \"SOL\"\n{url}\n{settings}"),
        )
        .unwrap();
    }
}

/// A devnet with two topics, a funded and registered key file, the side
/// inference server, and a config file pointing at all of them.
async fn test_chain() -> TestChain {
    let dir = tempfile::tempdir().unwrap();
    let mnemonic = Mnemonic::generate(24).unwrap();
    let key_file = dir.path().join("keys/worker.key");
    keyfile::write_new(&key_file, &mnemonic).unwrap();
    let key = WorkerKey::from_mnemonic(&mnemonic, "").unwrap();
    let devnet = TestNet::builder(key.clone())
        .block_interval(Duration::from_millis(500))
        .topics([1, 2], 6, 4)
        .balance(1_000_000_000_000)
        .start()
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference_addr = listener.local_addr().unwrap();
    let app = router(ServerState::new(
        Arc::new(DemoModel::new(Clock::System)),
        Duration::from_secs(2),
    ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let config = dir.path().join("worker.toml");
    let text = format!(
        r#"
chain_id = "{chain}"
grpc_endpoints = ["{grpc}"]
websocket_url = "{ws}"
data_dir = "{data}"
key_file = "{key}"
gas_price = 10
fee_tier = "standard"
metrics_addr = "127.0.0.1:0"

[[topics]]
id = 1
token = "ETH"
inference_url = "http://{inference_addr}/inference/{{Token}}"
timeout_secs = 2

[[topics]]
id = 2
token = "BTC"
inference_url = "http://{inference_addr}/inference/{{Token}}"
"#,
        chain = devnet.chain_id(),
        grpc = devnet.grpc_endpoint(),
        ws = devnet.websocket_url(),
        data = dir.path().join("data").display(),
        key = key_file.display(),
    );
    std::fs::write(&config, text).unwrap();
    TestChain {
        devnet,
        key,
        config,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_config_file_submits_serves_metrics_and_status_reports_it() {
    let chain = test_chain().await;
    // Two topics: the first epoch gives two submissions, so 4 keeps the
    // metrics server up while the test reads it after the first line.
    let (mut child, mut lines) = spawn(chain.command(&["run", "--exit-after", "4"]));
    let mut out = read_until(&mut lines, "submission ", Duration::from_secs(60)).await;
    let metrics = metrics_addr(&out);

    // The metrics endpoint counts the submission and health is good.
    let http = reqwest::Client::new();
    let body = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("allora_worker_submissions_total{topic="),
        "{body}"
    );
    assert!(body.contains("outcome=\"included\"} "), "{body}");
    assert!(body.contains("allora_worker_block_height "), "{body}");
    assert!(
        body.contains("allora_worker_window_to_broadcast_seconds_bucket"),
        "{body}"
    );
    let health = http
        .get(format!("http://{metrics}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    exits_successfully(&mut child, &mut lines, &mut out).await;

    // Every printed submission is on the devnet, in the printed transaction.
    let submissions: Vec<_> = out
        .iter()
        .filter(|l| l.starts_with("submission "))
        .collect();
    assert!(submissions.len() >= 4, "{out:#?}");
    for line in &submissions {
        let (topic, nonce, tx, height) = parse_submission(line);
        let on_chain = chain
            .devnet
            .submission(topic, nonce, chain.key.address())
            .unwrap();
        assert_eq!(on_chain.tx_hash, tx);
        assert_eq!(on_chain.height, height);
    }

    // `status --json` sees the chain, the registration and the landed submissions.
    let output = chain.succeeds(&["status", "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(report["chain_id"], chain.devnet.chain_id());
    assert_eq!(report["address"], chain.key.address().as_str());
    assert!(report["balance_uallo"].as_u64().unwrap() > 0);
    assert_eq!(report["websocket"]["reachable"], true);
    let topics = report["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 2);
    let landed = topics
        .iter()
        .filter(|t| t["last_submission"]["landed"] == true)
        .count();
    assert!(landed >= 1, "{report:#}");
    for t in topics {
        assert_eq!(t["registered"], true);
    }

    // The text form says the same for people.
    let text = chain.succeeds(&["status"]).await;
    assert!(
        text.contains("landed") && text.contains("registered"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_registers_only_where_needed() {
    let chain = test_chain().await;
    // A third topic the worker is not registered in.
    chain.add_unregistered_topic(|text| text, "");

    let stdout = chain.succeeds(&["register"]).await;
    assert!(stdout.contains("topic 1: already registered"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("topic 3: registered in tx "))
        .unwrap();
    let hash = line.split_whitespace().nth(5).unwrap();
    assert!(chain.devnet.included_tx(hash).is_some(), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_topic_is_reported_at_start_in_metrics_and_status_while_the_rest_runs() {
    let chain = test_chain().await;
    // A third topic the worker is not registered in, and auto-registration off.
    chain.add_unregistered_topic(
        |text| {
            text.replace(
                "fee_tier = \"standard\"",
                "fee_tier = \"standard\"\nmax_fee_uallo = 100000000",
            )
        },
        "refuse_zero = true\nmin_value = 1\n",
    );
    let (mut child, mut lines) = spawn(chain.command(&["run", "--exit-after", "3"]));
    let mut out = read_until(&mut lines, "topic=3 suspended", Duration::from_secs(60)).await;
    assert!(
        out.last().unwrap().contains("reason=not_registered"),
        "{out:#?}"
    );
    out.extend(read_until(&mut lines, "submission ", Duration::from_secs(60)).await);
    let metrics = metrics_addr(&out);
    let body = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "allora_worker_topic_state{topic=\"3\",state=\"not_registered\"} 1",
        "allora_worker_topic_state{topic=\"1\",state=\"serving\"} 1",
        "allora_worker_failures_total{kind=\"not_registered\"} 1",
    ] {
        assert!(body.lines().any(|l| l == expected), "{expected}\n{body}");
    }
    exits_successfully(&mut child, &mut lines, &mut out).await;
    assert!(out
        .iter()
        .filter(|l| l.starts_with("submission "))
        .all(|l| parse_submission(l).0 != 3));

    let output = chain.succeeds(&["status", "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&output).unwrap();
    let topic3 = &report["topics"][2];
    assert_eq!(topic3["id"], 3);
    assert_eq!(topic3["registered"], false);
    assert_eq!(topic3["worker_state"]["state"], "suspended");
    assert_eq!(topic3["worker_state"]["reason"], "not_registered");
    assert_eq!(report["topics"][0]["worker_state"]["state"], "serving");
    let text = chain.succeeds(&["status"]).await;
    assert!(
        text.contains("topic 3: NOT registered")
            && text.contains("worker: SUSPENDED (not_registered"),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_config_fails_with_a_message_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("grpc_endpoint = [\"http://127.0.0.1:9090\"]\n", "grpc_endpoint"),
        (
            "grpc_endpoints = [\"127.0.0.1:9090\"]\n[[topics]]\nid = 1\ninference_url = \"http://127.0.0.1:8000/inference/{Token}\"\n",
            "grpc_endpoints[0]",
        ),
        (
            "grpc_endpoints = [\"http://127.0.0.1:9090\"]\n[[topics]]\nid = 0\ninference_url = \"http://127.0.0.1:8000/inference/{Token}\"\n",
            "topics[0].id",
        ),
        ("grpc_endpoints = \"http://127.0.0.1:9090\"\n", "grpc_endpoints"),
    ];
    for (text, field) in cases {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let mut command = worker(dir.path());
        let stderr = fails(command.arg("--config").arg(&config).arg("run")).await;
        assert!(
            stderr.contains("error:") && stderr.contains(field),
            "{field}: {stderr}"
        );
    }
    let stderr = fails(worker(dir.path()).args(["--config", "does-not-exist.toml", "run"])).await;
    assert!(stderr.contains("does-not-exist.toml"), "{stderr}");
}

#[tokio::test]
async fn keys_new_show_and_import_round_trip_without_leaking_the_mnemonic() {
    let dir = tempfile::tempdir().unwrap();
    let new = ["keys", "new", "--words", "12", "--key-file", "a/worker.key"];
    let stdout = succeeds(worker(dir.path()).args(new)).await;
    let address = stdout
        .lines()
        .find_map(|l| l.strip_prefix("address:"))
        .unwrap()
        .trim()
        .to_owned();
    // The mnemonic is the one 12-word line.
    let phrase = stdout
        .lines()
        .find(|l| l.split_whitespace().count() == 12)
        .unwrap()
        .to_owned();
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("a/worker.key")), 0o600);

    let shown =
        succeeds(worker(dir.path()).args(["keys", "show", "--key-file", "a/worker.key"])).await;
    assert!(
        shown.contains(&address) && shown.contains("pubkey:"),
        "{shown}"
    );
    for word in phrase.split_whitespace() {
        assert!(
            !shown.split_whitespace().any(|w| w == word),
            "{word} leaked: {shown}"
        );
    }

    // Importing the printed mnemonic gives the same address.
    let mut import = worker(dir.path());
    import.args(["keys", "import", "--key-file", "b/worker.key"]);
    let imported = with_input(&mut import, &format!("{phrase}\n")).await;
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let imported_out = String::from_utf8(imported.stdout).unwrap();
    assert!(imported_out.contains(&address), "{imported_out}");
    assert!(!imported_out.contains(&phrase));

    // An existing key is never overwritten.
    let again = fails(worker(dir.path()).args(["keys", "new", "--key-file", "a/worker.key"])).await;
    assert!(again.contains("already exists"), "{again}");
}

#[tokio::test]
async fn keys_follow_the_configured_source_and_never_echo_a_phrase() {
    let dir = tempfile::tempdir().unwrap();
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let mut show = worker(dir.path());
    let shown = succeeds(show.args(["keys", "show"]).env("ALLORA_MNEMONIC", phrase)).await;
    assert!(
        shown.contains("environment variable ALLORA_MNEMONIC"),
        "{shown}"
    );
    assert!(
        shown.contains("allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"),
        "{shown}"
    );
    assert!(!shown.contains("abandon"), "{shown}");

    // A remote signer: the address follows from the configured public key;
    // neither the token nor the URL's credentials are shown.
    let key = WorkerKey::from_mnemonic(&phrase.parse().unwrap(), "").unwrap();
    let remote = |extra: (&str, &str)| {
        let mut command = worker(dir.path());
        command
            .args(["keys", "show"])
            .env("ALLORA_KEY_SOURCE", "remote")
            .env(
                "ALLORA_KEY_REMOTE_URL",
                "https://ops:pw@signer.example:8443/sign",
            )
            .env("ALLORA_KEY_REMOTE_PUBLIC_KEY", key.public_key().to_hex())
            .env(extra.0, extra.1);
        command
    };
    let shown = succeeds(&mut remote(("ALLORA_REMOTE_SIGNER_TOKEN", "t0ken-xyz"))).await;
    assert!(
        shown.contains("remote signer https://signer.example:8443/sign")
            && shown.contains(key.address().as_str())
            && shown.contains(&key.public_key().to_hex()),
        "{shown}"
    );
    assert!(
        !shown.contains("t0ken") && !shown.contains("pw@"),
        "{shown}"
    );
    // A token file others may read is refused, naming the file.
    let token_file = dir.path().join("signer.token");
    std::fs::write(&token_file, "t0ken-xyz\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = fails(&mut remote((
            "ALLORA_KEY_REMOTE_TOKEN_FILE",
            token_file.to_str().unwrap(),
        )))
        .await;
        assert!(
            text.contains("signer.token") && text.contains("chmod 600") && !text.contains("t0ken"),
            "{text}"
        );
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let shown = succeeds(&mut remote((
        "ALLORA_KEY_REMOTE_TOKEN_FILE",
        token_file.to_str().unwrap(),
    )))
    .await;
    assert!(shown.contains(key.address().as_str()), "{shown}");

    // `keys new` writes key files only.
    let mut new = worker(dir.path());
    let stderr = fails(
        new.args(["keys", "new"])
            .env("ALLORA_KEY_SECRET_ID", "allora/worker/mnemonic"),
    )
    .await;
    assert!(stderr.contains("--key-file"), "{stderr}");

    // A bad phrase on standard input is refused without being echoed.
    let mut import = worker(dir.path());
    import.args(["keys", "import", "--key-file", "bad.key"]);
    let imported = with_input(&mut import, "hunter2 correct horse\n").await;
    assert!(!imported.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&imported.stdout),
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(
        text.contains("not valid") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(!dir.path().join("bad.key").exists());

    // An ALLORA_* variable the worker does not read is named, not ignored.
    let mut unknown = worker(dir.path());
    unknown
        .args(["keys", "show"])
        .env("ALLORA_INFERENCE_URL", "http://127.0.0.1:8000");
    let stderr = fails(&mut unknown).await;
    assert!(stderr.contains("ALLORA_INFERENCE_URL"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_worker_gracefully_within_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = worker(dir.path());
    command.args(["run", "--metrics-addr", "127.0.0.1:0"]);
    let (mut child, mut lines) = spawn(command);
    read_until(&mut lines, "worker ", Duration::from_secs(60)).await;
    let pid = child.id().unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the worker did not exit within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_ready_or_names_what_to_fix_with_its_exit_code() {
    let chain = test_chain().await;
    let dir = chain.config.parent().unwrap().to_owned();
    let phrase = std::fs::read_to_string(dir.join("keys/worker.key")).unwrap();
    let first_words: String = phrase
        .split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ");
    // Provider timeouts within half the 4-block window of 500 ms blocks.
    let mut text = std::fs::read_to_string(&chain.config).unwrap();
    text = text.replace("timeout_secs = 2", "timeout_secs = 1");
    text.push_str("timeout_secs = 1\n");
    std::fs::write(&chain.config, &text).unwrap();
    chain.devnet.wait_height(4).await;

    let run = |config: std::path::PathBuf, json: bool| {
        let mut command = worker(&dir);
        command.arg("--config").arg(config).arg("check");
        if json {
            command.arg("--json");
        }
        command.output()
    };
    let output = run(chain.config.clone(), true).await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().unwrap();
    let line = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(line("config")["status"], "pass");
    let key = line("key");
    assert_eq!(key["status"], "pass");
    assert!(key["summary"]
        .as_str()
        .unwrap()
        .contains(chain.key.address().as_str()));
    for topic in [1, 2] {
        for what in [
            "exists",
            "active",
            "registered",
            "whitelisted",
            "window",
            "inference",
        ] {
            let id = format!("topic[{topic}].{what}");
            // A 1 s timeout is about half the 2 s window: a warning at most.
            let fine: &[&str] = if what == "window" {
                &["pass", "warn"]
            } else {
                &["pass"]
            };
            let status = line(&id)["status"].as_str().unwrap().to_owned();
            assert!(fine.contains(&status.as_str()), "{id}: {stdout}");
        }
    }
    assert!(line("topic[1].inference")["data"]["latency_ms"].is_number());
    assert!(!stdout.contains(&first_words) && !stderr.contains(&first_words));

    // On another chain: exit code 1, and the text says what to do.
    let wrong = dir.join("wrong-chain.toml");
    let other = text.replace(
        &format!("chain_id = \"{}\"", chain.devnet.chain_id()),
        "chain_id = \"allora-mainnet-1\"",
    );
    std::fs::write(&wrong, other).unwrap();
    let output = run(wrong, false).await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL endpoint[0]"), "{stdout}");
    assert!(
        stdout.contains("-> point this endpoint at a node of allora-mainnet-1"),
        "{stdout}"
    );
    assert!(stdout.contains("NOT ready"), "{stdout}");
    assert!(!stdout.contains(&first_words));
}
