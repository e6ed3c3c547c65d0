use envoy_types::pb::google::protobuf::UInt64Value;

use super::*;

fn hashed(
    lb: LbPolicy,
    config: Option<envoy_cluster::LbConfig>,
) -> Result<BalancePolicy, ConfigError> {
    let c = Cluster {
        name: "outbound|80||web.shop.svc.cluster.local".into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        lb_policy: lb as i32,
        lb_config: config,
        ..Default::default()
    };
    build_cluster(&c).map(|c| c.lb_config.policy)
}

#[test]
fn istios_consistent_hash_clusters_are_ring_hash_or_maglev() {
    // What the translator emits for `consistentHash` (minimumRingSize) and `maglev`.
    let ring = envoy_cluster::LbConfig::RingHashLbConfig(envoy_cluster::RingHashLbConfig {
        minimum_ring_size: Some(UInt64Value { value: 2048 }),
        ..Default::default()
    });
    assert_eq!(
        hashed(LbPolicy::RingHash, Some(ring)),
        Ok(BalancePolicy::RingHash {
            minimum_ring_size: 2048,
            maximum_ring_size: 8 << 20
        })
    );
    let maglev = envoy_cluster::LbConfig::MaglevLbConfig(envoy_cluster::MaglevLbConfig {
        table_size: Some(UInt64Value { value: 251 }),
    });
    assert_eq!(
        hashed(LbPolicy::Maglev, Some(maglev)),
        Ok(BalancePolicy::Maglev { table_size: 251 })
    );
    assert_eq!(
        hashed(LbPolicy::Maglev, None),
        Ok(BalancePolicy::default_maglev())
    );
}

#[test]
fn istios_outlier_detection_is_applied_and_success_rate_must_be_off() {
    use envoy_types::pb::envoy::config::cluster::v3::OutlierDetection;
    use envoy_types::pb::google::protobuf::{Duration as ProtoDuration, UInt32Value};
    let mut od = OutlierDetection {
        consecutive_5xx: Some(UInt32Value { value: 1 }),
        interval: Some(ProtoDuration {
            seconds: 1,
            nanos: 0,
        }),
        max_ejection_percent: Some(UInt32Value { value: 100 }),
        enforcing_success_rate: Some(UInt32Value { value: 0 }),
        ..Default::default()
    };
    let config = outlier_detection(&od).expect("Istio's shape");
    assert_eq!(config.consecutive_5xx, 1);
    assert_eq!(config.interval, Duration::from_secs(1));
    assert_eq!(config.max_ejection_percent, 100);
    assert_eq!(
        config.base_ejection_time,
        Duration::from_secs(30),
        "Envoy's default"
    );
    od.enforcing_success_rate = None;
    let err = outlier_detection(&od).expect_err("Envoy would run success-rate ejection");
    assert!(err.contains("enforcing_success_rate"), "{err}");
}

#[test]
fn istios_max_requests_per_connection_is_kept_and_zero_means_no_limit() {
    use envoy_types::pb::envoy::config::core::v3::HttpProtocolOptions;
    use envoy_types::pb::google::protobuf::UInt32Value;
    let limit = |n: Option<u32>| {
        pool_options(&HttpProtocolOptions {
            max_requests_per_connection: n.map(|value| UInt32Value { value }),
            ..Default::default()
        })
        .map(|p| p.max_requests_per_connection)
    };
    assert_eq!(limit(Some(5)), Ok(Some(5)));
    assert_eq!(limit(Some(1)), Ok(Some(1)));
    assert_eq!(limit(Some(0)), Ok(None));
    assert_eq!(limit(None), Ok(None));
}

#[test]
fn what_envoy_would_refuse_or_hash_differently_is_nacked() {
    let not_prime = envoy_cluster::LbConfig::MaglevLbConfig(envoy_cluster::MaglevLbConfig {
        table_size: Some(UInt64Value { value: 1000 }),
    });
    let err = hashed(LbPolicy::Maglev, Some(not_prime)).expect_err("refused");
    assert!(err.contains("table_size: 1000"), "{err}");
    let murmur = envoy_cluster::LbConfig::RingHashLbConfig(envoy_cluster::RingHashLbConfig {
        hash_function: envoy_cluster::ring_hash_lb_config::HashFunction::MurmurHash2 as i32,
        ..Default::default()
    });
    let err = hashed(LbPolicy::RingHash, Some(murmur)).expect_err("refused");
    assert!(err.contains("XX_HASH"), "{err}");
}
