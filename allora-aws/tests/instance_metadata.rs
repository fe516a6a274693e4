//! The IMDSv2 client against a fake metadata service on loopback.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use allora_aws::imds::{Ec2Metadata, ImdsError, InstanceIdentity};
use support::FakeImds;

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
    let silent = support::SilentEndpoint::start().await;
    let metadata = Ec2Metadata::builder()
        .endpoint(&silent.endpoint)
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

    let imds = FakeImds::ec2("i-0abc123def4567890", "eu-west-1").await;
    let identity = Ec2Metadata::builder()
        .endpoint(&imds.endpoint)
        .build()
        .unwrap()
        .identity_within(Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(identity.instance_id, "i-0abc123def4567890");
    assert_eq!(identity.region, "eu-west-1");
}
