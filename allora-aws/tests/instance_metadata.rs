//! The IMDSv2 client against a fake metadata service on loopback.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use allora_aws::imds::{Ec2Metadata, ImdsError, InstanceIdentity};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const TOKEN: &str = "AQAEAFakeSessionToken==";

/// A fake IMDSv2: tokens from `PUT /latest/api/token`, metadata only for
/// requests that carry one.
struct FakeImds {
    endpoint: String,
    tokenless_gets: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeImds {
    async fn start(metadata: &[(&str, &str)]) -> FakeImds {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
                        TOKEN.to_owned(),
                    ),
                    None => ("400 Bad Request", String::new(), String::new()),
                }
            }
            ("GET", path) => {
                if headers.get("x-aws-ec2-metadata-token").map(String::as_str) != Some(TOKEN) {
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

#[tokio::test]
async fn reads_region_and_instance_id_with_a_session_token() {
    let imds = FakeImds::start(&[
        ("/latest/meta-data/placement/region", "eu-west-1"),
        ("/latest/meta-data/instance-id", "i-0abc123def4567890"),
    ])
    .await;
    let metadata = Ec2Metadata::builder()
        .endpoint(&imds.endpoint)
        .build()
        .unwrap();
    assert_eq!(
        metadata.identity().await.unwrap(),
        InstanceIdentity {
            region: "eu-west-1".to_owned(),
            instance_id: "i-0abc123def4567890".to_owned(),
        }
    );
    assert_eq!(imds.tokenless_gets.load(Ordering::SeqCst), 0, "IMDSv1 used");
}

#[tokio::test]
async fn missing_or_odd_metadata_is_a_typed_error() {
    let imds = FakeImds::start(&[("/latest/meta-data/instance-id", "not-an-instance")]).await;
    let metadata = Ec2Metadata::builder()
        .endpoint(&imds.endpoint)
        .build()
        .unwrap();
    let err = metadata.region().await.unwrap_err();
    assert!(
        matches!(err, ImdsError::ErrorStatus { status: 404, .. }),
        "{err:?}"
    );
    let err = metadata.instance_id().await.unwrap_err();
    assert!(matches!(err, ImdsError::InvalidValue { .. }), "{err:?}");
}

#[tokio::test]
async fn no_metadata_service_fails_fast() {
    let endpoint = format!("http://127.0.0.1:{}", support::free_port());
    let metadata = Ec2Metadata::builder()
        .endpoint(&endpoint)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = metadata.identity().await.unwrap_err();
    assert!(matches!(err, ImdsError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let err = Ec2Metadata::builder()
        .endpoint("not a url")
        .build()
        .unwrap_err();
    assert!(matches!(err, ImdsError::InvalidEndpoint { .. }), "{err:?}");
}

#[tokio::test]
async fn a_silent_metadata_service_costs_at_most_the_limit() {
    // Accepts connections and never answers, like a firewall that drops.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let metadata = Ec2Metadata::builder()
        .endpoint(&endpoint)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        metadata.identity_within(Duration::from_millis(500)).await,
        None
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    // The margin only absorbs scheduling on a busy machine.
    assert!(took < Duration::from_secs(3), "{took:?}");
    held.abort();

    let imds = FakeImds::start(&[
        ("/latest/meta-data/placement/region", "eu-west-1"),
        ("/latest/meta-data/instance-id", "i-0abc123def4567890"),
    ])
    .await;
    let identity = Ec2Metadata::builder()
        .endpoint(&imds.endpoint)
        .build()
        .unwrap()
        .identity_within(Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(identity.instance_id, "i-0abc123def4567890");
}
