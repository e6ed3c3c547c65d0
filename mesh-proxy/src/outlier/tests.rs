use super::*;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Ten hosts, so Envoy's default 10 % cap allows one ejection.
fn detector(config: OutlierDetectionConfig) -> OutlierDetector<u32> {
    OutlierDetector::new(config, 0..10, 1)
}

fn fail(
    d: &mut OutlierDetector<u32>,
    host: u32,
    times: u32,
    now: Duration,
) -> Option<EjectionType> {
    let mut last = None;
    for _ in 0..times {
        last = d
            .put_result(&host, UpstreamResult::HttpStatus(500), now)
            .or(last);
    }
    last
}

/// Runs interval ticks from `from` to `to` (inclusive) every 10 s; returns when `host`
/// came back.
fn tick_until_back(d: &mut OutlierDetector<u32>, host: u32, from: u64, to: u64) -> Option<u64> {
    (from..=to)
        .step_by(10)
        .find(|&t| d.on_interval(secs(t)).contains(&host))
}

#[test]
fn five_consecutive_5xx_eject_for_base_time_then_return() {
    let mut d = detector(OutlierDetectionConfig::default());
    assert_eq!(fail(&mut d, 3, 4, secs(1)), None);
    assert!(!d.is_ejected(&3));
    assert_eq!(
        fail(&mut d, 3, 1, secs(1)),
        Some(EjectionType::Consecutive5xx)
    );
    assert!(d.is_ejected(&3));
    assert_eq!(d.stats().ejections_enforced_total, 1);
    assert_eq!(d.stats().ejections_active, 1);
    // Ejected at 1 s for 30 s: still out at the 30 s tick, back at the 40 s tick.
    assert_eq!(tick_until_back(&mut d, 3, 10, 100), Some(40));
    assert!(!d.is_ejected(&3));
    assert_eq!(d.stats().ejections_active, 0);
}

#[test]
fn a_success_resets_the_consecutive_count() {
    let mut d = detector(OutlierDetectionConfig::default());
    fail(&mut d, 0, 4, secs(0));
    d.put_result(&0, UpstreamResult::HttpStatus(200), secs(0));
    assert_eq!(fail(&mut d, 0, 4, secs(0)), None);
    // A connect that succeeded says nothing about the response: no reset.
    d.put_result(&0, UpstreamResult::ConnectSuccess, secs(0));
    assert_eq!(
        fail(&mut d, 0, 1, secs(0)),
        Some(EjectionType::Consecutive5xx)
    );
}

#[test]
fn ejection_time_grows_with_each_ejection() {
    let mut d = detector(OutlierDetectionConfig::default());
    fail(&mut d, 1, 5, secs(0));
    assert_eq!(tick_until_back(&mut d, 1, 10, 1000), Some(30));
    // Ejected again at once: backoff 2, so 60 s.
    fail(&mut d, 1, 5, secs(31));
    assert_eq!(d.num_ejections(&1), 2);
    assert_eq!(tick_until_back(&mut d, 1, 40, 1000), Some(100));
    // Third time: 90 s.
    fail(&mut d, 1, 5, secs(101));
    assert_eq!(tick_until_back(&mut d, 1, 110, 1000), Some(200));
}

#[test]
fn ejection_backoff_decays_while_the_host_stays_healthy() {
    let mut d = detector(OutlierDetectionConfig::default());
    fail(&mut d, 1, 5, secs(0));
    assert_eq!(tick_until_back(&mut d, 1, 10, 1000), Some(30));
    fail(&mut d, 1, 5, secs(31));
    assert_eq!(tick_until_back(&mut d, 1, 40, 1000), Some(100));
    // Backoff is 2; two ticks a full interval after the return bring it to 0.
    for t in [110, 120] {
        d.on_interval(secs(t));
    }
    fail(&mut d, 1, 5, secs(121));
    assert_eq!(tick_until_back(&mut d, 1, 130, 1000), Some(160));
}

#[test]
fn ejection_time_is_capped_by_max_ejection_time() {
    let mut d = detector(OutlierDetectionConfig {
        max_ejection_time: secs(60),
        ..OutlierDetectionConfig::default()
    });
    let mut now = 0;
    for _ in 0..5 {
        fail(&mut d, 2, 5, secs(now));
        let back = tick_until_back(&mut d, 2, now + 10, now + 1000).expect("returns");
        assert!(back - now <= 70, "out for {}", back - now);
        now = back + 1;
    }
}

#[test]
fn max_ejection_percent_caps_ejections() {
    let mut d = detector(OutlierDetectionConfig::default());
    assert!(fail(&mut d, 0, 5, secs(0)).is_some());
    // A second host would be 20 % of ten: refused and counted as overflow.
    assert_eq!(fail(&mut d, 1, 5, secs(0)), None);
    assert!(!d.is_ejected(&1));
    assert_eq!(d.stats().ejections_overflow, 1);
    assert_eq!(d.stats().ejections_active, 1);
}

#[test]
fn default_ten_percent_ejects_nobody_below_ten_hosts_unless_always_eject_one_host() {
    let mut d = OutlierDetector::new(OutlierDetectionConfig::default(), 0..5u32, 1);
    assert_eq!(fail(&mut d, 0, 5, secs(0)), None);
    assert_eq!(d.stats().ejections_overflow, 1);

    let config = OutlierDetectionConfig {
        always_eject_one_host: true,
        ..OutlierDetectionConfig::default()
    };
    let mut d = OutlierDetector::new(config, 0..5u32, 1);
    assert!(fail(&mut d, 0, 5, secs(0)).is_some());
    assert_eq!(fail(&mut d, 1, 5, secs(0)), None);
}

#[test]
fn gateway_failures_are_detected_but_not_enforced_by_default() {
    let config = OutlierDetectionConfig {
        consecutive_5xx: 100,
        ..OutlierDetectionConfig::default()
    };
    let mut d = detector(config);
    for _ in 0..5 {
        d.put_result(&4, UpstreamResult::ConnectFailed, secs(0));
    }
    assert!(!d.is_ejected(&4));
    assert_eq!(d.stats().ejections_detected_consecutive_gateway_failure, 1);
    assert_eq!(d.stats().ejections_enforced_total, 0);
}

#[test]
fn istio_consecutive_gateway_errors_eject_on_502_503_504_only() {
    let config = OutlierDetectionConfig {
        consecutive_5xx: 100,
        consecutive_gateway_failure: 3,
        enforcing_consecutive_gateway_failure: 100,
        ..OutlierDetectionConfig::default()
    };
    let mut d = detector(config);
    // A 500 breaks the run of gateway errors.
    for status in [502, 503, 500, 504, 502] {
        d.put_result(&5, UpstreamResult::HttpStatus(status), secs(0));
    }
    assert!(!d.is_ejected(&5));
    let ejected = d.put_result(&5, UpstreamResult::Timeout, secs(0));
    assert_eq!(ejected, Some(EjectionType::ConsecutiveGatewayFailure));
    assert_eq!(d.stats().ejections_enforced_consecutive_gateway_failure, 1);
}

#[test]
fn removed_ejected_host_no_longer_counts_toward_the_cap() {
    let mut d = detector(OutlierDetectionConfig::default());
    fail(&mut d, 0, 5, secs(0));
    d.set_hosts(1..11);
    assert_eq!(d.stats().ejections_active, 0);
    assert!(fail(&mut d, 10, 5, secs(0)).is_some());
}
