//! The pre-flight check against a devnet: a node that will work passes
//! every line with its figures; an unregistered topic, an unreachable
//! endpoint, a side server answering garbage and a wrong chain id each fail
//! their own line with what to do, and the report fails.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{refused_port, test_key, TestNet};
use allora_devnet::TopicConfig;
use allora_infer::HttpProvider;
use allora_sdk::check::{CheckReport, CheckStatus, Preflight, TopicProbe};
use axum::routing::get;

const CHAIN_ID: &str = "allora-preflight";
/// Registered; window 5 blocks of 200 ms = 1 s.
const REGISTERED: u64 = 1;
/// Exists, but the worker is not registered in it.
const UNREGISTERED: u64 = 2;
/// Within half the 1 s window.
const TIMEOUT: Duration = Duration::from_millis(400);

/// A side server: `/good` answers a number, `/garbage` an HTML page.
async fn side_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/good", get(|| async { "3012.5" }))
        .route("/garbage", get(|| async { "<html>upstream error</html>" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn net() -> TestNet {
    let net = TestNet::builder(test_key(31).unwrap())
        .chain_id(CHAIN_ID)
        .block_interval(Duration::from_millis(200))
        .topics([REGISTERED], 10, 5)
        .devnet(|d| d.topic(TopicConfig::new(UNREGISTERED, 10, 5)))
        .start()
        .await
        .unwrap();
    // A few blocks, so the block time can be measured.
    net.wait_height(6).await;
    net
}

fn probe(topic: u64, url: String) -> TopicProbe {
    let provider = HttpProvider::builder(url.clone())
        .max_retries(0)
        .build()
        .unwrap();
    let mut probe = TopicProbe::inference(topic, Arc::new(provider), TIMEOUT);
    probe.inference_source = Some(format!("inference_url {url}"));
    probe
}

fn checks_of(net: &TestNet, endpoints: Vec<String>, chain_id: &str) -> Preflight {
    let mut preflight = Preflight::new(endpoints);
    preflight.chain_id = Some(chain_id.to_owned());
    preflight.websocket = Some(net.websocket_url());
    preflight.address = Some(net.address().clone());
    preflight
}

fn status(report: &CheckReport, id: &str) -> CheckStatus {
    report
        .line(id)
        .unwrap_or_else(|| panic!("no line {id}:\n{report}"))
        .status
}

/// The failing line `id`, with its remedy.
fn failing<'a>(report: &'a CheckReport, id: &str) -> (&'a str, &'a str) {
    let line = report
        .line(id)
        .unwrap_or_else(|| panic!("no line {id}:\n{report}"));
    assert_eq!(line.status, CheckStatus::Fail, "{report}");
    (&line.summary, line.remedy.as_deref().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_will_work_passes_every_line_with_its_figures() {
    let net = net().await;
    let side = side_server().await;
    let mut preflight = checks_of(&net, vec![net.grpc_endpoint()], CHAIN_ID);
    preflight
        .topics
        .push(probe(REGISTERED, format!("{side}/good")));
    let report = preflight.run().await;
    assert!(report.ok, "{report}");
    for id in [
        "endpoint[0]",
        "endpoint[0].emissions",
        "websocket",
        "balance",
        "topic[1].exists",
        "topic[1].active",
        "topic[1].registered",
        "topic[1].whitelisted",
        "topic[1].window",
        "topic[1].inference",
    ] {
        assert_eq!(status(&report, id), CheckStatus::Pass, "{id}\n{report}");
    }
    let endpoint = &report.line("endpoint[0]").unwrap().data;
    assert_eq!(endpoint["chain_id"], CHAIN_ID);
    let window = &report.line("topic[1].window").unwrap().data;
    assert_eq!(window["window_blocks"], 5);
    let block = window["block_time_secs"].as_f64().unwrap();
    assert!((0.1..0.5).contains(&block), "{block}");
    let inference = report.line("topic[1].inference").unwrap();
    assert_eq!(inference.data["value"], "3012.5");
    assert!(inference.data["latency_ms"].as_f64().unwrap() < TIMEOUT.as_millis() as f64);
    let balance = &report.line("balance").unwrap().data;
    assert!(
        balance["day_uallo"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
            > 0
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"ok\":true"), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_problem_fails_its_own_line_and_says_what_to_do() {
    let net = net().await;
    let side = side_server().await;
    let refused = format!("http://127.0.0.1:{}", refused_port().unwrap());
    let mut preflight = checks_of(&net, vec![net.grpc_endpoint(), refused.clone()], CHAIN_ID);
    preflight
        .topics
        .push(probe(REGISTERED, format!("{side}/garbage")));
    preflight
        .topics
        .push(probe(UNREGISTERED, format!("{side}/good")));
    let report = preflight.run().await;
    assert!(!report.ok, "{report}");

    // The endpoint that refuses fails; the other one still serves the checks.
    assert_eq!(status(&report, "endpoint[0]"), CheckStatus::Pass);
    let (summary, remedy) = failing(&report, "endpoint[1]");
    assert!(summary.contains(&refused), "{summary}");
    assert!(remedy.contains("gRPC port"), "{remedy}");

    // The garbage answer fails the inference line only.
    assert_eq!(status(&report, "topic[1].registered"), CheckStatus::Pass);
    let (summary, remedy) = failing(&report, "topic[1].inference");
    assert!(summary.contains("/garbage"), "{summary}");
    assert!(remedy.contains("plain number"), "{remedy}");

    // The unregistered topic says how to register; its server is fine.
    let (summary, remedy) = failing(&report, "topic[2].registered");
    assert!(summary.contains(net.address().as_str()), "{summary}");
    assert!(remedy.contains("allora-worker register"), "{remedy}");
    assert_eq!(status(&report, "topic[2].inference"), CheckStatus::Pass);
    assert_eq!(report.failures().count(), 3, "{report}");
    let text = report.to_string();
    assert!(text.contains("NOT ready: 3 check(s) failed"), "{text}");

    // A node of another chain fails its endpoint and the chain checks wait.
    let mut other = checks_of(&net, vec![net.grpc_endpoint()], "allora-mainnet-1");
    other.topics.push(probe(REGISTERED, format!("{side}/good")));
    let report = other.run().await;
    assert!(!report.ok, "{report}");
    let (summary, remedy) = failing(&report, "endpoint[0]");
    assert!(summary.contains(CHAIN_ID), "{summary}");
    assert!(remedy.contains("allora-mainnet-1"), "{remedy}");
    assert_eq!(status(&report, "topic[1]"), CheckStatus::Skip, "{report}");
}
