//! The boot contract of the EC2 deployment: what the CDK app's instance
//! writes and runs, run here on loopback.
//!
//! The stack is synthesized from `examples/deploy/cdk/deploy.example.json`
//! (the configuration the deploy README starts from). From the template
//! this takes the files the user data writes and the systemd units'
//! `ExecStart`, `Environment` and `EnvironmentFile`, installs them under a
//! scratch root (the binaries are this build's), and runs both units'
//! commands as systemd would, against:
//!
//! - moto (Secrets Manager holding the mnemonic, CloudWatch), reached
//!   through `AWS_ENDPOINT_URL`;
//! - a fake IMDSv2 (instance id, region, instance-role credentials), reached
//!   through `AWS_EC2_METADATA_SERVICE_ENDPOINT`;
//! - the devnet, whose endpoints replace the configured chain endpoints
//!   (`ALLORA_GRPC_ENDPOINTS`, `ALLORA_WEBSOCKET_URL`), the only settings
//!   overridden.
//!
//! The stack is synthesized a second time with `keySource=kms`: the worker
//! signs with a moto KMS key (`ALLORA_KEY_KMS_MESSAGE_TYPE=raw` as well:
//! moto hashes a `DIGEST` message again), gets a submission included, and
//! its address is the one the stack's address custom resource derives.
//!
//! `%S` (the units' state directory root) is the scratch root's `var/lib`,
//! and absolute paths in `ExecStart` and `EnvironmentFile` are taken inside
//! the scratch root, as under a chroot. The inference server listens on its
//! real port (8000) and the worker's metrics on theirs (9464).
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../allora-aws/tests/support/mod.rs"]
mod aws_support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use allora_devnet::{Devnet, DevnetHandle, TopicConfig};
use allora_sdk::keys::{Mnemonic, WorkerKey};
use aws_support::{
    create_kms_key, create_secret, free_port, kms_public_key, listed_metrics, FakeImds, MotoServer,
    SilentEndpoint,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const WORKER_BIN: &str = env!("CARGO_BIN_EXE_allora-worker");
const INFERENCE_BIN: &str = env!("CARGO_BIN_EXE_allora-inference-server");
/// moto's account; the template's `AWS::AccountId`.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const INSTANCE_ID: &str = "i-0b00c0ffee1234567";
const NAMESPACE: &str = "Allora/Worker";
/// The ports the configuration uses.
const INFERENCE_PORT: u16 = 8000;
const METRICS_PORT: u16 = 9464;
/// Words that must never appear in any output (a bad secret's content).
const BAD_SECRET: &str = "hunter2 correct horse battery staple";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cdk_dir() -> PathBuf {
    repo_root().join("examples/deploy/cdk")
}

/// Runs a program to completion; panics with its output when it fails.
fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    text
}

/// Synthesizes the stack (without building its binaries) into `out`.
fn synthesize(out: &Path, context: &[&str]) -> Value {
    let cdk = cdk_dir();
    assert!(
        cdk.join("node_modules/aws-cdk-lib").exists(),
        "the CDK app's npm packages are missing: run `bash scripts/install-test-deps.sh`"
    );
    run("node", &["node_modules/typescript/bin/tsc"], &cdk);
    let out_arg = out.to_str().unwrap();
    let mut args = vec!["dist/test/synth.js", out_arg, "config=deploy.example.json"];
    args.extend_from_slice(context);
    run("node", &args, &cdk);
    let text = std::fs::read_to_string(out.join("AlloraWorker.template.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The template's user data script, with the intrinsic functions resolved
/// as CloudFormation would in account `ACCOUNT`, region `REGION`; `key_id`
/// stands for the stack's secret, or its KMS key's ARN.
fn user_data(template: &Value, key_id: &str) -> String {
    let resources = template["Resources"].as_object().unwrap();
    let mut refs: HashMap<String, String> = HashMap::from([
        ("AWS::Region".into(), REGION.into()),
        ("AWS::AccountId".into(), ACCOUNT.into()),
        ("AWS::Partition".into(), "aws".into()),
        ("AWS::URLSuffix".into(), "amazonaws.com".into()),
    ]);
    for (id, resource) in resources {
        match resource["Type"].as_str().unwrap() {
            "AWS::SecretsManager::Secret" => {
                refs.insert(id.clone(), key_id.to_owned());
            }
            "AWS::KMS::Key" => {
                refs.insert(format!("{id}.Arn"), key_id.to_owned());
            }
            "AWS::Logs::LogGroup" => {
                refs.insert(id.clone(), format!("{id}-group"));
            }
            _ => {}
        }
    }
    let instance = resources
        .values()
        .find(|r| r["Type"] == "AWS::EC2::Instance")
        .unwrap();
    resolve(&instance["Properties"]["UserData"]["Fn::Base64"], &refs)
}

fn resolve(value: &Value, refs: &HashMap<String, String>) -> String {
    if let Some(text) = value.as_str() {
        return text.to_owned();
    }
    let (function, argument) = value.as_object().unwrap().iter().next().unwrap();
    match function.as_str() {
        "Ref" => refs
            .get(argument.as_str().unwrap())
            .unwrap_or_else(|| panic!("unresolved Ref {argument}"))
            .clone(),
        "Fn::Join" => {
            let separator = argument[0].as_str().unwrap();
            let parts: Vec<String> = argument[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| resolve(p, refs))
                .collect();
            parts.join(separator)
        }
        "Fn::GetAtt" => {
            let name = format!(
                "{}.{}",
                argument[0].as_str().unwrap(),
                argument[1].as_str().unwrap()
            );
            refs.get(&name)
                .unwrap_or_else(|| panic!("unresolved Fn::GetAtt {name}"))
                .clone()
        }
        "Fn::Sub" => {
            let mut text = argument.as_str().unwrap().to_owned();
            for (name, value) in refs {
                text = text.replace(&format!("${{{name}}}"), value);
            }
            assert!(!text.contains("${"), "unresolved Fn::Sub {text}");
            text
        }
        other => panic!("unexpected {other} in the user data: {argument}"),
    }
}

/// The files the script writes with `cat > PATH <<'MARKER'`, by path.
fn written_files(script: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut lines = script.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("cat > ") else {
            continue;
        };
        let (path, marker) = rest.split_once(" <<'").unwrap();
        let marker = marker.trim_end_matches('\'');
        let mut body = Vec::new();
        for line in lines.by_ref() {
            if line == marker {
                break;
            }
            body.push(line);
        }
        files.insert(path.to_owned(), body.join("\n") + "\n");
    }
    files
}

/// What systemd takes from a unit to start its service.
#[derive(Debug, Default)]
struct Unit {
    exec_start: Vec<String>,
    environment: Vec<(String, String)>,
    environment_files: Vec<String>,
    settings: HashMap<String, String>,
}

fn parse_unit(text: &str) -> Unit {
    let mut unit = Unit::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap();
        match key {
            "ExecStart" => {
                assert!(!value.contains(['"', '\'']), "quoting is not handled");
                unit.exec_start = value.split_whitespace().map(str::to_owned).collect();
            }
            "Environment" => {
                let (name, value) = value.split_once('=').unwrap();
                unit.environment.push((name.to_owned(), value.to_owned()));
            }
            "EnvironmentFile" => unit.environment_files.push(value.to_owned()),
            _ => {
                unit.settings.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    unit
}

/// A scratch root holding what the user data installs.
struct Root {
    dir: PathBuf,
    files: BTreeMap<String, String>,
}

impl Root {
    fn install(dir: PathBuf, files: BTreeMap<String, String>) -> Root {
        for (path, text) in &files {
            let target = dir.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, text).unwrap();
        }
        let bin = dir.join("opt/allora/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (program, name) in [
            (WORKER_BIN, "allora-worker"),
            (INFERENCE_BIN, "allora-inference-server"),
        ] {
            // A hard link when the scratch root shares the build's file system.
            if std::fs::hard_link(program, bin.join(name)).is_err() {
                std::fs::copy(program, bin.join(name)).unwrap();
            }
        }
        std::fs::create_dir_all(dir.join("var/lib")).unwrap();
        std::fs::create_dir_all(dir.join("home")).unwrap();
        Root { dir, files }
    }

    fn path(&self, absolute: &str) -> PathBuf {
        self.dir.join(absolute.trim_start_matches('/'))
    }

    fn unit(&self, name: &str) -> Unit {
        parse_unit(&self.files[&format!("/etc/systemd/system/{name}")])
    }

    /// The unit's command with the environment systemd would give it, plus
    /// `extra` (the harness's endpoints).
    fn command(&self, unit: &Unit, extra: &[(&str, &str)]) -> Command {
        let state = self.dir.join("var/lib");
        let inside = |arg: &str| -> String {
            if arg.starts_with('/') {
                self.path(arg).to_string_lossy().into_owned()
            } else {
                arg.to_owned()
            }
        };
        let mut command = Command::new(inside(&unit.exec_start[0]));
        command
            .args(unit.exec_start[1..].iter().map(|a| inside(a)))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.dir.join("home"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for file in &unit.environment_files {
            let (optional, path) = match file.strip_prefix('-') {
                Some(path) => (true, path),
                None => (false, file.as_str()),
            };
            match std::fs::read_to_string(self.path(path)) {
                Ok(text) => {
                    for line in text.lines().map(str::trim) {
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        let (name, value) = line.split_once('=').unwrap();
                        command.env(name, value);
                    }
                }
                Err(e) => assert!(optional, "EnvironmentFile {path}: {e}"),
            }
        }
        for (name, value) in &unit.environment {
            let value = value.replace("%S", state.to_str().unwrap());
            assert!(!value.contains('%'), "unhandled specifier in {value}");
            command.env(name, value);
        }
        for (name, value) in extra {
            command.env(name, value);
        }
        command
    }
}

/// A started service: its stdout lines as they come, everything it printed.
struct Service {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    output: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
}

impl Service {
    fn start(mut command: Command) -> Service {
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out = Arc::clone(&output);
        let stdout_reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                out.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let out = Arc::clone(&output);
        let stderr_reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                out.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Service {
            child,
            lines,
            output,
            readers: vec![stdout_reader, stderr_reader],
            started,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The next stdout line starting with `prefix` and containing `needle`,
    /// and when it came (since start).
    async fn line(&mut self, prefix: &str, needle: &str, limit: Duration) -> (String, Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line.starts_with(prefix) && line.contains(needle) => {
                    return (line, self.started.elapsed())
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!(
                    "exited before a line {prefix:?}...{needle:?}:\n{}",
                    self.output()
                ),
                Err(_) => panic!(
                    "no line {prefix:?}...{needle:?} within {limit:?}:\n{}",
                    self.output()
                ),
            }
        }
    }

    /// Waits for the process to exit by itself, and for its output.
    async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("did not exit within {limit:?}:\n{}", self.output()),
        };
        for reader in self.readers.drain(..) {
            reader.await.unwrap();
        }
        status
    }

    /// SIGTERM, as `systemctl stop` sends; returns the exit status.
    async fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        run("kill", &["-TERM", &pid], Path::new("/"));
        self.exit(Duration::from_secs(30)).await
    }
}

/// `submission ...` lines: (topic, nonce).
fn submission(line: &str) -> (u64, i64) {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    (
        field("topic").parse().unwrap(),
        field("nonce").parse().unwrap(),
    )
}

async fn metrics_text() -> String {
    reqwest::get(format!("http://127.0.0.1:{METRICS_PORT}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of a counter in the Prometheus text, 0 when absent.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The (dimension=value, ...) sets of a metric in moto's CloudWatch.
async fn dimension_sets(cloudwatch: &aws_sdk_cloudwatch::Client, metric: &str) -> Vec<String> {
    let mut sets: Vec<String> = listed_metrics(cloudwatch, NAMESPACE, Some(metric))
        .await
        .iter()
        .map(|m| {
            let mut dims: Vec<String> = m
                .dimensions()
                .iter()
                .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
                .collect();
            dims.sort();
            dims.join(",")
        })
        .collect();
    sets.sort();
    sets
}

fn assert_port_free(port: u16) {
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "127.0.0.1:{port} is in use; the deployed configuration needs it (stop what listens there)"
    );
}

/// Every file under `dir` but the binaries and the host's units, as text.
fn all_files(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = path.to_string_lossy();
        if text.ends_with("opt/allora/bin") || text.ends_with("usr/lib/systemd") {
            continue;
        }
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_instance_boots_a_submitting_worker() {
    let scratch = tempfile::Builder::new()
        .prefix("boot-contract-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let template = synthesize(&scratch.path().join("cdk.out"), &[]);
    assert_port_free(INFERENCE_PORT);
    assert_port_free(METRICS_PORT);

    // What systemd is told: restart on failure, forever, with a delay.
    let files = written_files(&user_data(&template, "unused"));
    for name in ["allora-worker.service", "allora-inference-server.service"] {
        let unit = parse_unit(&files[&format!("/etc/systemd/system/{name}")]);
        assert_eq!(unit.settings["Restart"], "on-failure", "{name}");
        assert_eq!(unit.settings["StartLimitIntervalSec"], "0", "{name}");
        assert!(unit.settings.contains_key("RestartSec"), "{name}");
    }
    // The CloudWatch agent collects memory and disk.
    let agent: Value =
        serde_json::from_str(&files["/opt/aws/amazon-cloudwatch-agent/etc/allora-agent.json"])
            .unwrap();
    let collected = &agent["metrics"]["metrics_collected"];
    assert!(
        collected["mem"].is_object() && collected["disk"].is_object(),
        "{agent}"
    );
    let config: toml::Value = toml::from_str(&files["/etc/allora/worker.toml"]).unwrap();

    // systemd-analyze verify on both units, installed as the user data does.
    let verify_root = Root::install(scratch.path().join("verify"), files.clone());
    let units_dir = verify_root.path("/usr/lib/systemd/system");
    std::fs::create_dir_all(&units_dir).unwrap();
    for entry in std::fs::read_dir("/usr/lib/systemd/system")
        .expect("no /usr/lib/systemd/system: install systemd (bash scripts/install-test-deps.sh)")
    {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), units_dir.join(entry.file_name())).unwrap();
        }
    }
    for name in ["allora-worker.service", "allora-inference-server.service"] {
        let output = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", verify_root.dir.display()))
            .arg(format!("/etc/systemd/system/{name}"))
            .output()
            .expect("systemd-analyze is missing: bash scripts/install-test-deps.sh installs it");
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && text.trim().is_empty(),
            "{name}: {text}"
        );
    }

    // The chain: the devnet, with the configured chain id and topics.
    let phrase = Mnemonic::generate(24).unwrap().phrase();
    let mnemonic: Mnemonic = phrase.parse().unwrap();
    let key = WorkerKey::from_mnemonic(&mnemonic, "").unwrap();
    let address = key.address().to_string();
    let mut devnet = Devnet::builder()
        .chain_id(config["chain_id"].as_str().unwrap())
        .block_interval(Duration::from_millis(500));
    let topics: Vec<u64> = config["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_integer().unwrap() as u64)
        .collect();
    for id in &topics {
        devnet = devnet.topic(TopicConfig::new(*id, 6, 4));
    }
    let devnet: DevnetHandle = devnet.build().start().await.unwrap();
    devnet.fund(key.address(), 1_000_000_000_000).unwrap();
    let grpc = devnet.grpc_endpoint();
    let websocket = devnet.websocket_url();

    let moto = MotoServer::start().await;
    let aws = moto.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&aws);
    let imds = FakeImds::ec2(INSTANCE_ID, REGION).await;
    let on_ec2: Vec<(&str, &str)> = vec![
        ("AWS_ENDPOINT_URL", &moto.endpoint),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint),
        ("ALLORA_GRPC_ENDPOINTS", &grpc),
        ("ALLORA_WEBSOCKET_URL", &websocket),
    ];
    // Every byte any process printed, checked for the mnemonic at the end.
    let mut printed = String::new();
    let install = |name: &str, secret_id: &str| {
        Root::install(
            scratch.path().join(name),
            written_files(&user_data(&template, secret_id)),
        )
    };

    // The side server, started from its unit.
    let side_root = install("side", "unused");
    let mut side =
        Service::start(side_root.command(&side_root.unit("allora-inference-server.service"), &[]));
    side.line(
        "allora-inference-server listening",
        "",
        Duration::from_secs(30),
    )
    .await;

    // A secret that is missing, unreadable or not a mnemonic: one clear
    // error naming it, never its content, and a non-zero exit for systemd
    // to restart.
    let missing =
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:allora-worker-mnemonic-AbCdEf");
    let bad = create_secret(&secrets, "allora-worker-bad", BAD_SECRET).await;
    let locked_moto = MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]).await;
    let locked = create_secret(
        &aws_sdk_secretsmanager::Client::new(&locked_moto.sdk_config().await),
        "allora-worker-locked",
        &format!("{{\"mnemonic\": \"{}\"}}", phrase.as_str()),
    )
    .await;
    let locked_env: Vec<(&str, &str)> = vec![
        ("AWS_ENDPOINT_URL", &locked_moto.endpoint),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint),
        ("ALLORA_GRPC_ENDPOINTS", &grpc),
        ("ALLORA_WEBSOCKET_URL", &websocket),
    ];
    for (name, secret, env, expected) in [
        ("missing", &missing, &on_ec2, "not found"),
        ("bad", &bad, &on_ec2, "does not hold a valid mnemonic"),
        ("locked", &locked, &locked_env, "access denied"),
    ] {
        let root = install(name, secret);
        let mut worker = Service::start(root.command(&root.unit("allora-worker.service"), env));
        let status = worker.exit(Duration::from_secs(60)).await;
        let output = worker.output();
        printed.push_str(&output);
        assert!(!status.success(), "{name}: {output}");
        let errors: Vec<&str> = output.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{name}: {output}");
        assert!(
            errors[0].contains(secret.as_str()) && errors[0].contains(expected),
            "{name}: {output}"
        );
    }

    // The good secret, as the deploy README stores it.
    let good = create_secret(
        &secrets,
        "allora-worker-mnemonic",
        &format!("{{\"mnemonic\": \"{}\"}}", phrase.as_str()),
    )
    .await;
    let root = install("ec2", &good);
    let mut worker = Service::start(root.command(&root.unit("allora-worker.service"), &on_ec2));
    let (serving, ec2_startup) = worker
        .line("worker ", "serving", Duration::from_secs(90))
        .await;
    // The key came from the secret (and from nowhere else: no ALLORA_MNEMONIC,
    // no key file exists).
    assert!(serving.contains(&address), "{serving}");
    let mut served = Vec::new();
    while served.len() < 3 {
        let (line, _) = worker
            .line("submission ", "outcome=included", Duration::from_secs(90))
            .await;
        served.push(submission(&line));
    }
    let metrics = metrics_text().await;
    assert!(
        metrics.contains("allora_worker_submissions_total{topic="),
        "{metrics}"
    );
    let status = worker.stop().await;
    printed.push_str(&worker.output());
    assert!(status.success(), "{}", worker.output());
    let on_chain = devnet.submissions();
    for (topic, nonce) in &served {
        assert!(
            on_chain
                .iter()
                .any(|s| s.topic_id == *topic && s.nonce == *nonce && s.worker == address),
            "topic {topic} nonce {nonce} is not on the devnet"
        );
    }
    // Flushed at shutdown, labelled with the instance.
    let instance = format!("InstanceId={INSTANCE_ID}");
    let region = format!("Region={REGION}");
    let sets = dimension_sets(&cloudwatch, "Submissions").await;
    assert!(
        sets.contains(&format!("{instance},Outcome=included,{region}")),
        "{sets:?}"
    );
    for metric in [
        "BlockHeight",
        "BalanceUallo",
        "WindowOpenToInclusionLatency",
    ] {
        let sets = dimension_sets(&cloudwatch, metric).await;
        assert!(
            sets.contains(&format!("{instance},{region}")),
            "{metric}: {sets:?}"
        );
    }

    // CloudWatch unreachable: the worker keeps submitting and counts what it
    // drops (flushing every second so that drops happen within the test).
    let refused = format!("http://127.0.0.1:{}", free_port());
    let mut unreachable_env = on_ec2.clone();
    unreachable_env.push(("AWS_ENDPOINT_URL_CLOUDWATCH", &refused));
    unreachable_env.push(("ALLORA_CLOUDWATCH_FLUSH_SECS", "1"));
    let root = install("no-cloudwatch", &good);
    let mut worker =
        Service::start(root.command(&root.unit("allora-worker.service"), &unreachable_env));
    worker
        .line("submission ", "outcome=", Duration::from_secs(90))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dropped = loop {
        let dropped = counter(
            &metrics_text().await,
            "allora_worker_cloudwatch_dropped_total",
        );
        if dropped > 0 {
            break dropped;
        }
        assert!(
            Instant::now() < deadline,
            "no dropped metric counted:\n{}\n{}",
            metrics_text().await,
            worker.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for _ in 0..2 {
        worker
            .line("submission ", "outcome=included", Duration::from_secs(60))
            .await;
    }
    let later = counter(
        &metrics_text().await,
        "allora_worker_cloudwatch_dropped_total",
    );
    assert!(later >= dropped);
    let status = worker.stop().await;
    printed.push_str(&worker.output());
    assert!(status.success(), "{}", worker.output());

    // Not on EC2: the metadata service never answers. Credentials come from
    // the environment; metrics go without instance dimensions, and the
    // lookup costs at most its 2 s limit.
    let silent = SilentEndpoint::start().await;
    let off_ec2: Vec<(&str, &str)> = vec![
        ("AWS_ENDPOINT_URL", &moto.endpoint),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &silent.endpoint),
        ("AWS_ACCESS_KEY_ID", "AKIAOFFEC2"),
        ("AWS_SECRET_ACCESS_KEY", "off-ec2-secret"),
        ("ALLORA_GRPC_ENDPOINTS", &grpc),
        ("ALLORA_WEBSOCKET_URL", &websocket),
    ];
    let root = install("off-ec2", &good);
    let mut worker = Service::start(root.command(&root.unit("allora-worker.service"), &off_ec2));
    let (_, off_startup) = worker
        .line("worker ", "serving", Duration::from_secs(90))
        .await;
    worker
        .line("submission ", "outcome=included", Duration::from_secs(60))
        .await;
    let status = worker.stop().await;
    let output = worker.output();
    printed.push_str(&output);
    assert!(status.success(), "{output}");
    assert!(
        output.contains("no EC2 instance identity")
            && output.contains("CloudWatch metrics carry no instance dimensions"),
        "{output}"
    );
    // Generous: the two runs differ by the 2 s lookup limit plus scheduling
    // noise on a shared machine.
    assert!(
        off_startup < ec2_startup + Duration::from_secs(2) + Duration::from_secs(5),
        "start-up {off_startup:?} off EC2 vs {ec2_startup:?} on EC2"
    );
    let sets = dimension_sets(&cloudwatch, "Submissions").await;
    assert!(sets.contains(&"Outcome=included".to_owned()), "{sets:?}");

    // The key in KMS: the stack synthesized with keySource "kms" configures
    // the worker with the stack's key (its ARN, here a key made in moto) and
    // reads no secret. One more override: moto signs SHA-256 of the digest
    // for MessageType=DIGEST (a moto bug), so this run asks for RAW.
    let kms_template = synthesize(&scratch.path().join("cdk-kms.out"), &["keySource=kms"]);
    let kms = aws_sdk_kms::Client::new(&aws);
    let key_arn = create_kms_key(&kms, aws_sdk_kms::types::KeySpec::EccSecgP256K1).await;
    let kms_files = written_files(&user_data(&kms_template, &key_arn));
    let kms_config = &kms_files["/etc/allora/worker.toml"];
    assert!(
        kms_config.contains(&format!("source = \"kms\"\nkms_key_id = \"{key_arn}\"\n"))
            && !kms_config.contains("secret_id"),
        "{kms_config}"
    );
    // The address the stack outputs (its custom resource's derivation, run on
    // the public key as KMS encodes it) is the worker's.
    let spki = kms_public_key(&kms, &key_arn).await;
    let kms_key_address = allora_sdk::keys::Address::from_public_key(
        &allora_aws::kms::public_key_from_spki(&spki).unwrap(),
    )
    .unwrap();
    let kms_address = kms_key_address.to_string();
    let spki_hex: String = spki.iter().map(|b| format!("{b:02x}")).collect();
    let output_address = run(
        "node",
        &[
            "-e",
            "process.stdout.write(require('./dist/lambda/worker-address').workerAddress(Buffer.from(process.argv[1], 'hex')))",
            &spki_hex,
        ],
        &cdk_dir(),
    );
    assert_eq!(output_address.trim(), kms_address);
    devnet.fund(&kms_key_address, 1_000_000_000_000).unwrap();
    let root = Root::install(scratch.path().join("kms"), kms_files);
    let mut kms_env = on_ec2.clone();
    kms_env.push(("ALLORA_KEY_KMS_MESSAGE_TYPE", "raw"));
    let mut worker = Service::start(root.command(&root.unit("allora-worker.service"), &kms_env));
    let (serving, _) = worker
        .line("worker ", "serving", Duration::from_secs(90))
        .await;
    assert!(serving.contains(&kms_address), "{serving}");
    let (line, _) = worker
        .line("submission ", "outcome=included", Duration::from_secs(90))
        .await;
    let (topic, nonce) = submission(&line);
    let status = worker.stop().await;
    printed.push_str(&worker.output());
    assert!(status.success(), "{}", worker.output());
    assert!(
        devnet
            .submissions()
            .iter()
            .any(|s| s.topic_id == topic && s.nonce == nonce && s.worker == kms_address),
        "topic {topic} nonce {nonce} from the KMS key is not on the devnet"
    );

    // The mnemonic was never printed or written.
    side.stop().await;
    printed.push_str(&side.output());
    all_files(scratch.path(), &mut printed);
    let words: Vec<&str> = phrase.split_whitespace().collect();
    for window in words.windows(3) {
        assert!(
            !printed.contains(&window.join(" ")),
            "part of the mnemonic was printed or written"
        );
    }
    assert!(!printed.contains(BAD_SECRET), "the bad secret was printed");
    devnet.shutdown().await;
}
