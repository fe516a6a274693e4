//! Loopback test fixtures: a moto server child process and SDK configuration
//! pointing at loopback only.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
