//! The devnet answers every query a worker makes, and publishes nonce
//! windows on a CometBFT-compatible websocket.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod devnet_support;
mod devnet_tx;

use std::time::Duration;

use allora_devnet::fixtures::*;
use allora_sdk::proto::emissions::v10;
use allora_sdk::proto::emissions::v10::query_service_client::QueryServiceClient;
use allora_sdk::proto::feemarket::query_client::QueryClient as FeemarketClient;
use allora_sdk::proto::feemarket::GasPriceRequest;
use cosmrs::proto::cosmos::auth::v1beta1::query_client::QueryClient as AuthClient;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountInfoRequest, QueryAccountRequest,
};
use cosmrs::proto::cosmos::bank::v1beta1::query_client::QueryClient as BankClient;
use cosmrs::proto::cosmos::bank::v1beta1::QueryBalanceRequest;
use cosmrs::proto::cosmos::base::tendermint::v1beta1::service_client::ServiceClient as NodeClient;
use cosmrs::proto::cosmos::base::tendermint::v1beta1::{GetLatestBlockRequest, GetNodeInfoRequest};
use devnet_support::*;
use devnet_tx::*;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The feemarket's gas price: uallo per gas, as an 18-decimal integer.
async fn gas_price(ch: &tonic::transport::Channel) -> String {
    FeemarketClient::new(ch.clone())
        .gas_price(GasPriceRequest {
            denom: "uallo".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .price
        .unwrap()
        .amount
}

/// The heights of the worker nonces `GetUnfulfilledWorkerNonces` reports
/// open in `topic_id`.
async fn open_nonces(
    q: &mut QueryServiceClient<tonic::transport::Channel>,
    topic_id: u64,
) -> Vec<i64> {
    let request = v10::GetUnfulfilledWorkerNoncesRequest { topic_id };
    let nonces = q.get_unfulfilled_worker_nonces(request).await.unwrap();
    let nonces = nonces.into_inner().nonces.unwrap().nonces;
    nonces.iter().map(|n| n.block_height).collect()
}

#[tokio::test]
async fn node_auth_bank_and_feemarket_queries_are_answered() {
    let (a, _devnet, ch) = connected().await;
    let mut node = NodeClient::new(ch.clone());
    let info = node
        .get_node_info(GetNodeInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.default_node_info.unwrap().network, CHAIN_ID);
    let latest = node
        .get_latest_block(GetLatestBlockRequest {})
        .await
        .unwrap()
        .into_inner();
    let header = latest.block.unwrap().header.unwrap();
    assert_eq!(
        (header.height, header.chain_id.as_str()),
        (FIRST_NONCE, CHAIN_ID)
    );
    assert!(header.time.is_some());
    assert_eq!(
        latest.sdk_block.unwrap().header.unwrap().height,
        FIRST_NONCE
    );

    let mut auth = AuthClient::new(ch.clone());
    let by_address = |address: &str| QueryAccountRequest {
        address: address.to_owned(),
    };
    let info_of = |address: &str| QueryAccountInfoRequest {
        address: address.to_owned(),
    };
    let address = a.worker.address().to_string();
    let answer = auth.account(by_address(&address)).await.unwrap();
    let any = answer.into_inner().account.unwrap();
    assert_eq!(any.type_url, "/cosmos.auth.v1beta1.BaseAccount");
    let base = BaseAccount::decode(any.value.as_slice()).unwrap();
    assert_eq!((base.account_number, base.sequence), (5, 0));
    let answer = auth.account_info(info_of(&address)).await.unwrap();
    let info = answer.into_inner().info.unwrap();
    assert_eq!(info.address, address);
    assert!(info.pub_key.is_none(), "no tx signed yet");
    let unknown = test_key(42).unwrap().address().to_string();
    let err = auth.account(by_address(&unknown)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), format!("account {unknown} not found"));
    let err = auth.account_info(info_of("nonsense")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let balance = BankClient::new(ch.clone())
        .balance(QueryBalanceRequest {
            address,
            denom: "uallo".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(balance.amount, BALANCE.to_string());

    let price = gas_price(&ch).await;
    assert_eq!(price, "10000000000000000000");

    let err = get_tx(&ch, "AB".repeat(32).as_str()).await.unwrap_err();
    assert!(err.message().contains("tx not found"), "{}", err.message());
}

#[tokio::test]
async fn emissions_queries_are_answered_truthfully() {
    let (a, devnet, ch) = connected().await;
    let mut q = QueryServiceClient::new(ch.clone());
    let worker = a.worker.address().to_string();

    let topic = get_topic(&mut q, TOPIC).await;
    assert_eq!(
        (topic.id, topic.epoch_length, topic.worker_submission_window),
        (TOPIC, 10, 5)
    );
    assert_eq!(topic.epoch_last_ended, FIRST_NONCE);
    assert_eq!(
        q.get_topic(v10::GetTopicRequest { topic_id: 99 })
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    assert!(
        q.topic_exists(v10::TopicExistsRequest { topic_id: TOPIC })
            .await
            .unwrap()
            .into_inner()
            .exists
    );
    assert!(
        !q.topic_exists(v10::TopicExistsRequest { topic_id: 99 })
            .await
            .unwrap()
            .into_inner()
            .exists
    );
    assert!(
        !q.is_topic_active(v10::IsTopicActiveRequest {
            topic_id: INACTIVE_TOPIC
        })
        .await
        .unwrap()
        .into_inner()
        .is_active
    );
    assert_eq!(
        q.get_next_topic_id(v10::GetNextTopicIdRequest {})
            .await
            .unwrap()
            .into_inner()
            .next_topic_id,
        4
    );
    let params = get_params(&mut q).await;
    assert_eq!(
        params.registration_fee,
        allora_devnet::DEFAULT_REGISTRATION_FEE.to_string()
    );

    let registered = |address: String| v10::IsWorkerRegisteredInTopicIdRequest {
        topic_id: TOPIC,
        address,
    };
    assert!(
        q.is_worker_registered_in_topic_id(registered(worker.clone()))
            .await
            .unwrap()
            .into_inner()
            .is_registered
    );
    assert!(
        !q.is_worker_registered_in_topic_id(registered(a.outsider.address().to_string()))
            .await
            .unwrap()
            .into_inner()
            .is_registered
    );
    assert!(
        q.can_submit_worker_payload(v10::CanSubmitWorkerPayloadRequest {
            topic_id: TOPIC,
            address: worker.clone()
        })
        .await
        .unwrap()
        .into_inner()
        .can_submit_worker_payload
    );

    assert_eq!(open_nonces(&mut q, TOPIC).await, vec![FIRST_NONCE]);
    let unfulfilled = |block_height| v10::IsWorkerNonceUnfulfilledRequest {
        topic_id: TOPIC,
        block_height,
    };
    assert!(
        q.is_worker_nonce_unfulfilled(unfulfilled(FIRST_NONCE))
            .await
            .unwrap()
            .into_inner()
            .is_worker_nonce_unfulfilled
    );
    assert!(
        !q.is_worker_nonce_unfulfilled(unfulfilled(FIRST_NONCE + 1))
            .await
            .unwrap()
            .into_inner()
            .is_worker_nonce_unfulfilled
    );

    let status = q
        .get_worker_submission_window_status(v10::GetWorkerSubmissionWindowStatusRequest {
            topic_id: TOPIC,
            address: worker.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(status.is_open && status.is_registered && status.is_topic_active);
    assert_eq!(
        (status.window_start_block, status.window_end_block),
        (10, 15)
    );
    assert_eq!(
        (status.next_window_start_block, status.next_window_end_block),
        (20, 25)
    );

    // No nonce has closed yet.
    assert_eq!(
        latest_network_inferences(&mut q, TOPIC)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    // Two workers submit; after the window closes their values are the
    // latest network inferences.
    devnet.register_worker(TOPIC, a.outsider.address()).unwrap();
    for (key, number, value) in [(&a.worker, 5, "1.5"), (&a.outsider, 6, "2.5")] {
        let tx = sign(
            key,
            vec![payload_at(key, TOPIC, FIRST_NONCE, value)],
            number,
            0,
        );
        deliver(&devnet, &ch, &tx).await.unwrap();
    }
    devnet.produce_blocks_until(FIRST_NONCE + 5).await;
    let res = latest_network_inferences(&mut q, TOPIC).await.unwrap();
    assert_eq!(res.inference_block_height, FIRST_NONCE);
    let bundle = res.network_inferences.unwrap();
    assert_eq!(bundle.inferer_values.len(), 2);
    assert_eq!(bundle.combined_value[0].value, "2.0");
    assert_eq!(bundle.inferer_values[0].values[0].label_name, "y");
    assert!(open_nonces(&mut q, TOPIC).await.is_empty());
}

#[tokio::test]
async fn nonces_open_at_epoch_ends_and_respect_the_cap() {
    let a = actors();
    let devnet = launch(builder(&a).devnet(|d| d.max_unfulfilled_worker_requests(1))).await;
    devnet.produce_blocks_until(9).await;
    assert!(devnet.open_nonces(TOPIC).is_empty());
    let block = devnet.produce_block().await;
    let opened: Vec<_> = block
        .events
        .iter()
        .filter(|e| e.kind == allora_devnet::WINDOW_OPENED)
        .map(|e| e.attribute("topic_id").unwrap().to_owned())
        .collect();
    // Topics 1 and 3 are active; 2 is not.
    assert_eq!(opened, vec!["\"1\"", "\"3\""]);
    devnet.produce_blocks_until(15).await;
    assert!(
        devnet.open_nonces(TOPIC).is_empty(),
        "closed at the window end"
    );
    // A topic whose window is its whole epoch has two nonces open for a
    // moment in EndBlock; with a cap of 1 the older one is dropped there
    // (without a Closed event), as the chain's AddWorkerNonce does.
    devnet
        .add_topic(allora_devnet::TopicConfig::new(9, 3, 3))
        .unwrap();
    devnet.produce_blocks_until(15 + 3).await;
    assert_eq!(devnet.open_nonces(9), vec![18]);
    devnet.produce_blocks_until(20).await;
    let block = devnet.produce_block().await;
    assert_eq!(block.height, 21);
    let kinds: Vec<_> = block
        .events
        .iter()
        .filter(|e| e.attribute("topic_id") == Some("\"9\""))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, vec![allora_devnet::WINDOW_OPENED]);
    assert_eq!(devnet.open_nonces(9), vec![21]);
    devnet.set_topic_active(TOPIC, false).unwrap();
    devnet.produce_blocks_until(30).await;
    assert!(
        devnet.open_nonces(TOPIC).is_empty(),
        "inactive topics open no nonce"
    );
    assert_eq!(devnet.open_nonces(TOPIC_B), vec![30]);
}

async fn ws_connect(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a websocket frame within 5 s")
            .expect("the stream is open")
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

fn subscribe(id: &str, query: &str) -> Message {
    Message::Text(
        json!({"jsonrpc": "2.0", "method": "subscribe", "id": id, "params": {"query": query}})
            .to_string()
            .into(),
    )
}

#[tokio::test]
async fn websocket_publishes_window_events_to_matching_subscriptions() {
    let a = actors();
    let devnet =
        launch(builder(&a).devnet(|d| d.topic(allora_devnet::TopicConfig::new(7, 12, 4)))).await;
    let mut ws = ws_connect(&devnet.websocket_url()).await;
    let opened7 = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id = '\"7\"'";
    let closed7 = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowClosed.topic_id = '\"7\"'";
    let opened8 = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id = '\"8\"'";
    for (id, q) in [
        ("typed_block_events_1", opened7),
        ("typed_block_events_2", closed7),
        ("typed_block_events_3", opened8),
    ] {
        ws.send(subscribe(id, q)).await.unwrap();
        assert_eq!(
            next_json(&mut ws).await,
            json!({"jsonrpc": "2.0", "id": id, "result": {}})
        );
    }
    // Topic 7 opens nonce 12 (window end 16) and closes it at 16; topics 1
    // and 3 open at 10 but match no subscription.
    devnet.produce_blocks_until(12).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["id"], "typed_block_events_1");
    assert_eq!(frame["result"]["query"], opened7);
    let data = &frame["result"]["data"];
    assert_eq!(data["type"], "tendermint/event/NewBlockEvents");
    assert_eq!(data["value"]["height"], "12");
    assert_eq!(data["value"]["num_txs"], "0");
    assert_eq!(
        data["value"]["events"][0],
        json!({
            "type": "emissions.v10.EventWorkerSubmissionWindowOpened",
            "attributes": [
                {"key": "nonce_block_height", "value": "\"12\"", "index": true},
                {"key": "topic_id", "value": "\"7\"", "index": true},
                {"key": "window_end_block", "value": "\"16\"", "index": true},
                {"key": "mode", "value": "EndBlock", "index": true},
            ]
        })
    );
    assert_eq!(
        frame["result"]["events"]["tm.event"],
        json!(["NewBlockEvents"])
    );
    assert_eq!(
        frame["result"]["events"]
            ["emissions.v10.EventWorkerSubmissionWindowOpened.window_end_block"],
        json!(["\"16\""])
    );
    devnet.produce_blocks_until(16).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["id"], "typed_block_events_2");
    assert_eq!(frame["result"]["data"]["value"]["height"], "16");
    let closed = &frame["result"]["data"]["value"]["events"];
    let closed = closed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "emissions.v10.EventWorkerSubmissionWindowClosed")
        .unwrap();
    assert_eq!(
        closed["attributes"][0],
        json!({"key": "nonce_block_height", "value": "\"12\"", "index": true})
    );

    // After unsubscribe_all nothing more arrives; a plain NewBlockEvents
    // subscription then sees every block.
    ws.send(Message::Text(
        json!({"jsonrpc": "2.0", "method": "unsubscribe_all", "id": 9, "params": {}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["result"], json!({}));
    ws.send(subscribe("all", "tm.event='NewBlockEvents'"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["id"], "all");
    devnet.produce_block().await;
    let frame = next_json(&mut ws).await;
    assert_eq!(
        (
            frame["id"].as_str(),
            frame["result"]["data"]["value"]["height"].as_str()
        ),
        (Some("all"), Some("17"))
    );
    // Bad requests get JSON-RPC errors.
    ws.send(subscribe("bad", "tm.event > 3")).await.unwrap();
    assert!(next_json(&mut ws).await["error"]["data"]
        .as_str()
        .unwrap()
        .contains("failed to parse query"));
}

#[tokio::test]
async fn websocket_faults_drop_stop_and_restart() {
    let a = actors();
    let devnet = launch(builder(&a)).await;
    let url = devnet.websocket_url();
    let mut ws = ws_connect(&url).await;
    ws.send(subscribe("s", "tm.event='NewBlockEvents'"))
        .await
        .unwrap();
    next_json(&mut ws).await;
    devnet.drop_websocket_connections().await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the connection was closed");
    // Reconnecting works; stopping refuses new connections until restart.
    let _again = ws_connect(&url).await;
    devnet.stop_websocket().await.unwrap();
    assert!(!devnet.websocket_running().await);
    assert!(tokio_tungstenite::connect_async(url.as_str())
        .await
        .is_err());
    devnet.start_websocket().await.unwrap();
    let mut ws = ws_connect(&url).await;
    ws.send(subscribe("s", "tm.event='NewBlockEvents'"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["result"], json!({}));
    devnet.produce_block().await;
    assert_eq!(
        next_json(&mut ws).await["result"]["data"]["value"]["height"],
        "1"
    );
}

#[tokio::test]
async fn timed_mode_produces_blocks_on_its_own() {
    let devnet = allora_devnet::Devnet::builder()
        .block_interval(Duration::from_millis(50))
        .build()
        .start()
        .await
        .unwrap();
    let mut blocks = devnet.subscribe_blocks();
    let first = blocks.recv().await.unwrap().height;
    let second = blocks.recv().await.unwrap().height;
    assert_eq!(second, first + 1);
    devnet.shutdown().await;
}

/// Polls GetTx until the transaction is included (as the Python worker does).
async fn wait_for_tx(
    ch: &tonic::transport::Channel,
    hash: &str,
) -> cosmrs::proto::cosmos::base::abci::v1beta1::TxResponse {
    for _ in 0..200 {
        match get_tx(ch, hash).await {
            Ok(res) => return res,
            Err(e) => assert!(e.message().contains("tx not found"), "{}", e.message()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tx {hash} not included within 10 s");
}

#[tokio::test]
async fn a_worker_flow_on_timed_blocks_registers_and_submits_on_the_window_event() {
    use allora_sdk::tx::{Fee, UnsignedTx};

    let worker = test_key(11).unwrap();
    // Funded, not registered: the flow registers first.
    let devnet = TestNet::builder(worker.clone())
        .chain_id(CHAIN_ID)
        // A 2 s window leaves a loaded machine time for the whole flow.
        .block_interval(Duration::from_millis(200))
        .topics([5], 10, 10)
        .balance(BALANCE)
        .unregistered()
        .start()
        .await
        .unwrap();
    let ch = channel(&devnet).await.unwrap();
    let mut auth = AuthClient::new(ch.clone());
    let mut q = QueryServiceClient::new(ch.clone());
    let address = worker.address().to_string();
    let account_info = |auth: &mut AuthClient<tonic::transport::Channel>| {
        let address = address.clone();
        let mut auth = auth.clone();
        async move {
            auth.account_info(QueryAccountInfoRequest { address })
                .await
                .unwrap()
                .into_inner()
                .info
                .unwrap()
        }
    };

    // Start-up: not registered, so register.
    let registered = q
        .is_worker_registered_in_topic_id(v10::IsWorkerRegisteredInTopicIdRequest {
            topic_id: 5,
            address: address.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .is_registered;
    assert!(!registered);
    let info = account_info(&mut auth).await;
    let register = allora_sdk::proto::to_any(&v10::RegisterRequest {
        sender: address.clone(),
        topic_id: 5,
        owner: address.clone(),
        is_reputer: false,
    });
    let tx = sign_tx(
        CHAIN_ID,
        &worker,
        vec![register],
        info.account_number,
        info.sequence,
        GAS,
        FEE,
    )
    .unwrap();
    assert_eq!(broadcast(&ch, tx.to_bytes()).await.unwrap().code, 0);
    assert_eq!(wait_for_tx(&ch, tx.hash()).await.code, 0);

    // Wait for a window to open, then submit for its nonce.
    let mut ws = ws_connect(&devnet.websocket_url()).await;
    let query = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id = '\"5\"'";
    ws.send(subscribe("typed_block_events_1", query))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["result"], json!({}));
    let frame = next_json(&mut ws).await;
    let attrs = frame["result"]["data"]["value"]["events"][0]["attributes"]
        .as_array()
        .unwrap()
        .clone();
    let nonce_text = attrs
        .iter()
        .find(|a| a["key"] == "nonce_block_height")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let nonce: i64 = serde_json::from_str::<String>(&nonce_text)
        .unwrap()
        .parse()
        .unwrap();

    assert!(open_nonces(&mut q, 5).await.contains(&nonce));
    let info = account_info(&mut auth).await;
    let msgs = vec![payload_at(&worker, 5, nonce, "42.5")];
    let sim_bytes = UnsignedTx::new(msgs.clone())
        .simulation_bytes(worker.public_key(), info.sequence, &Fee::uallo(1, 300_000))
        .unwrap();
    let gas = simulate_gas(&ch, sim_bytes).await.unwrap() * 12 / 10;
    let price = gas_price(&ch).await;
    let per_gas: u128 = price.parse::<u128>().unwrap() / 1_000_000_000_000_000_000;
    let tx = sign_tx(
        CHAIN_ID,
        &worker,
        msgs,
        info.account_number,
        info.sequence,
        gas,
        u128::from(gas) * per_gas * 3 / 2,
    )
    .unwrap();
    let checked = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!(checked.code, 0, "{}", checked.raw_log);
    let res = wait_for_tx(&ch, tx.hash()).await;
    assert_eq!(res.code, 0, "{}", res.raw_log);
    assert!(res.height > nonce && res.height <= nonce + 10);
    let sub = devnet.submission(5, nonce, worker.address()).unwrap();
    assert_eq!(
        sub.inference.unwrap(),
        vec![("y".to_owned(), "42.5".to_owned())]
    );
    devnet.shutdown().await;
}
