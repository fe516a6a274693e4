//! Loopback test fixtures: a moto server child process, a fake IMDSv2, a
//! silent endpoint, and SDK configuration pointing at loopback only. Also
//! used by the worker's boot-contract test (examples/tests).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Creates a signing key of `spec` in the KMS `client` talks to (moto) and
/// returns its ARN.
pub async fn create_kms_key(client: &aws_sdk_kms::Client, spec: KeySpec) -> String {
    client
        .create_key()
        .key_spec(spec)
        .key_usage(KeyUsageType::SignVerify)
        .description("allora-aws test worker key")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap()
}

/// Starts moto with one secp256k1 signing key in its KMS: the server (keep
/// it alive), a KMS client of it and the key's ARN.
pub async fn moto_with_kms_key() -> (MotoServer, aws_sdk_kms::Client, String) {
    let moto = MotoServer::start().await;
    let client = aws_sdk_kms::Client::new(&moto.sdk_config().await);
    let arn = create_kms_key(&client, KeySpec::EccSecgP256K1).await;
    (moto, client, arn)
}

/// The public key of KMS key `key_id`, DER (SubjectPublicKeyInfo) as KMS
/// returns it.
pub async fn kms_public_key(client: &aws_sdk_kms::Client, key_id: &str) -> Vec<u8> {
    client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap()
        .into_inner()
}

/// Every metric CloudWatch (moto) lists in `namespace`, of the name
/// `metric_name` when given, over all pages (the SDK's paginator).
pub async fn listed_metrics(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric_name: Option<&str>,
) -> Vec<aws_sdk_cloudwatch::types::Metric> {
    let pages: Vec<_> = client
        .list_metrics()
        .namespace(namespace)
        .set_metric_name(metric_name.map(str::to_owned))
        .into_paginator()
        .send()
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    pages
        .iter()
        .flat_map(|page| page.metrics())
        .cloned()
        .collect()
}

/// Stores a secret `name` holding `value` in the Secrets Manager `client`
/// talks to (moto) and returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> String {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct MotoServer {
    child: Child,
    pub endpoint: String,
}

impl MotoServer {
    /// Starts `moto_server` ($MOTO_SERVER, else from PATH) on a free loopback
    /// port and waits until it answers. Panics with instructions when moto is
    /// missing: these tests must not pass by skipping.
    pub async fn start() -> MotoServer {
        Self::start_with_env(&[]).await
    }

    /// Like [`MotoServer::start`], with extra environment for moto (such as
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, after which it checks credentials).
    pub async fn start_with_env(env: &[(&str, &str)]) -> MotoServer {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start the moto emulator ({program:?}: {e}). Install it with \
                     `bash scripts/install-test-deps.sh` (or `pip install 'moto[server]==5.2.5'`) \
                     and set MOTO_SERVER to the moto_server binary if it is not on PATH"
                )
            });
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if answers_http(port).await {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited before answering: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SDK configuration for this server, with dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        let config = loopback_sdk_config(&self.endpoint).await;
        // The emulator is much slower than AWS, more so when tests share two cores.
        config
            .into_builder()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            )
            .build()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK configuration for a loopback endpoint: us-east-1, static dummy
/// credentials, so nothing ever consults instance metadata or real AWS.
pub async fn loopback_sdk_config(endpoint: &str) -> SdkConfig {
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    allora_aws::sdk_config::config_loader()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .test_credentials()
        .load()
        .await
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    listener.local_addr().unwrap().port()
}

async fn answers_http(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head)).await,
        Ok(Ok(_)) if head.starts_with(b"HTTP/1.")
    )
}

/// An endpoint that accepts connections and never answers (a firewall that
/// drops packets looks the same to a client). Stops when dropped.
pub struct SilentEndpoint {
    pub endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl SilentEndpoint {
    pub async fn start() -> SilentEndpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        SilentEndpoint { endpoint, task }
    }
}

impl Drop for SilentEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const IMDS_TOKEN: &str = "AQAEAFakeSessionToken==";

/// A fake IMDSv2 on loopback: tokens from `PUT /latest/api/token` (with the
/// TTL header the Rust SDK requires, which moto's lacks), metadata only for
/// requests that carry one.
pub struct FakeImds {
    pub endpoint: String,
    pub tokenless_gets: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// The access key id the fake's instance role hands out.
pub const ROLE_ACCESS_KEY_ID: &str = "ASIAFAKEINSTANCEROLE";

impl FakeImds {
    /// An EC2 instance: its id, region and instance-role credentials (as
    /// the SDK's default credential chain reads them on EC2).
    pub async fn ec2(instance_id: &str, region: &str) -> FakeImds {
        let credentials = format!(
            r#"{{"Code":"Success","LastUpdated":"2025-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"{ROLE_ACCESS_KEY_ID}","SecretAccessKey":"fake-secret-access-key","Token":"fake-session-token","Expiration":"2099-01-01T00:00:00Z"}}"#
        );
        FakeImds::start(&[
            ("/latest/meta-data/instance-id", instance_id),
            ("/latest/meta-data/placement/region", region),
            (
                "/latest/meta-data/iam/security-credentials/",
                "allora-worker-role",
            ),
            (
                "/latest/meta-data/iam/security-credentials/allora-worker-role",
                &credentials,
            ),
        ])
        .await
    }

    /// Serves exactly these paths.
    pub async fn start(metadata: &[(&str, &str)]) -> FakeImds {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let metadata: Arc<HashMap<String, String>> = Arc::new(
            metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let tokenless_gets = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&tokenless_gets);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let metadata = Arc::clone(&metadata);
                let counter = Arc::clone(&counter);
                tokio::spawn(serve(stream, metadata, counter));
            }
        });
        FakeImds {
            endpoint,
            tokenless_gets,
            task,
        }
    }
}

impl Drop for FakeImds {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    metadata: Arc<HashMap<String, String>>,
    tokenless_gets: Arc<AtomicUsize>,
) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, extra, body) = match (method, path) {
            ("PUT", "/latest/api/token") => {
                match headers.get("x-aws-ec2-metadata-token-ttl-seconds") {
                    Some(ttl) => (
                        "200 OK",
                        format!("x-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n"),
                        IMDS_TOKEN.to_owned(),
                    ),
                    None => ("400 Bad Request", String::new(), String::new()),
                }
            }
            ("GET", path) => {
                if headers.get("x-aws-ec2-metadata-token").map(String::as_str) != Some(IMDS_TOKEN) {
                    tokenless_gets.fetch_add(1, Ordering::SeqCst);
                    ("401 Unauthorized", String::new(), String::new())
                } else if let Some(value) = metadata.get(path) {
                    ("200 OK", String::new(), value.clone())
                } else {
                    ("404 Not Found", String::new(), String::new())
                }
            }
            _ => ("405 Method Not Allowed", String::new(), String::new()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{extra}\r\n{body}",
            body.len()
        );
        if stream
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
