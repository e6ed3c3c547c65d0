use super::*;

fn endpoints(weights: &[u32]) -> Vec<Endpoint> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Endpoint {
            address: format!("10.0.0.{}:8080", i + 1),
            weight,
            health: Health::Healthy,
            active_requests: 0,
        })
        .collect()
}

fn balancer(policy: LbPolicy, endpoints: Vec<Endpoint>) -> LoadBalancer {
    LoadBalancer::new(
        LbConfig {
            policy,
            ..LbConfig::default()
        },
        endpoints,
    )
}

fn picks(lb: &mut LoadBalancer, n: usize) -> Vec<usize> {
    let mut random = SplitMix64(7);
    (0..n)
        .map(|_| lb.choose_host(None, &mut random).expect("a host"))
        .collect()
}

fn counts(picks: &[usize], hosts: usize) -> Vec<usize> {
    let mut counts = vec![0; hosts];
    for &p in picks {
        counts[p] += 1;
    }
    counts
}

#[test]
fn round_robin_visits_each_host_in_turn() {
    let mut lb = balancer(LbPolicy::RoundRobin, endpoints(&[1, 1, 1]));
    assert_eq!(picks(&mut lb, 7), [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn round_robin_skips_unhealthy_hosts_and_keeps_its_place_across_updates() {
    let mut hosts = endpoints(&[1, 1, 1, 1]);
    let mut lb = balancer(LbPolicy::RoundRobin, hosts.clone());
    assert_eq!(picks(&mut lb, 2), [0, 1]);
    hosts[1].health = Health::Unhealthy;
    lb.update(hosts);
    assert_eq!(picks(&mut lb, 4), [3, 0, 2, 3]);
}

#[test]
fn weighted_round_robin_follows_envoy_edf_order() {
    let mut lb = balancer(LbPolicy::RoundRobin, endpoints(&[1, 1, 2]));
    let sequence = picks(&mut lb, 400);
    // Deadlines 1, 1, 0.5: the heavy host first, then ties in insertion order.
    assert_eq!(sequence[..8], [2, 0, 1, 2, 2, 0, 1, 2]);
    assert_eq!(counts(&sequence, 3), [100, 100, 200]);
}

#[test]
fn p2c_prefers_the_less_loaded_of_two() {
    let mut hosts = endpoints(&[1, 1, 1]);
    hosts[0].active_requests = 5;
    hosts[2].active_requests = 1;
    let mut lb = balancer(LbPolicy::default_least_request(), hosts);
    // Samples host 0 then host 2: the less loaded one wins.
    let mut samples = [0u64, 2].into_iter();
    let mut random = move || samples.next().unwrap_or(0);
    assert_eq!(lb.choose_host(None, &mut random), Some(2));
    // Same host sampled twice: that host, however loaded.
    let mut random = || 0u64;
    assert_eq!(lb.choose_host(None, &mut random), Some(0));
    // A tie keeps the first sample.
    lb.set_active_requests(0, 1);
    let mut samples = [2u64, 0].into_iter();
    let mut random = move || samples.next().unwrap_or(0);
    assert_eq!(lb.choose_host(None, &mut random), Some(2));
}

#[test]
fn p2c_sends_three_quarters_to_the_idle_host_of_two() {
    let mut hosts = endpoints(&[1, 1]);
    hosts[0].active_requests = 10;
    let mut lb = balancer(LbPolicy::default_least_request(), hosts);
    let share = counts(&picks(&mut lb, 40_000), 2)[1] as f64 / 40_000.0;
    assert!((share - 0.75).abs() < 0.02, "idle share {share}");
}

#[test]
fn weighted_least_request_divides_weight_by_active_requests_plus_one() {
    let mut hosts = endpoints(&[2, 1]);
    // Effective weights 2/(3+1) = 0.5 and 1/(0+1) = 1: the lighter host is due first.
    hosts[0].active_requests = 3;
    let mut lb = balancer(LbPolicy::default_least_request(), hosts);
    let sequence = picks(&mut lb, 300);
    assert_eq!(sequence[0], 1);
    assert_eq!(counts(&sequence, 2), [100, 200]);
}

#[test]
fn random_is_uniform_and_ignores_weights_as_envoy_does() {
    let mut lb = balancer(LbPolicy::Random, endpoints(&[1, 9]));
    let share = counts(&picks(&mut lb, 20_000), 2)[0] as f64 / 20_000.0;
    assert!((share - 0.5).abs() < 0.02, "share {share}");
    let mut random = || 3u64;
    assert_eq!(lb.choose_host(None, &mut random), Some(1));
}

fn owners(lb: &mut LoadBalancer, keys: u64) -> Vec<usize> {
    let mut random = SplitMix64(0);
    (0..keys)
        .map(|k| {
            let hash = xxh64(&k.to_le_bytes(), 0);
            lb.choose_host(Some(hash), &mut random).expect("a host")
        })
        .collect()
}

#[test]
fn ring_hash_sizes_the_ring_so_the_lightest_host_gets_whole_points() {
    let lb = balancer(LbPolicy::default_ring_hash(), endpoints(&[1, 2]));
    // min normalized weight 1/3: ceil(1024 / 3) = 342 points for it, 1026 in all.
    assert!(format!("{lb:?}").contains("ring of 1026"), "{lb:?}");
    let lb = balancer(
        LbPolicy::RingHash {
            minimum_ring_size: 1024,
            maximum_ring_size: 100,
        },
        endpoints(&[1, 1, 1]),
    );
    assert!(format!("{lb:?}").contains("ring of 100"), "{lb:?}");
}

#[test]
fn ring_hash_routes_a_point_to_its_host_key() {
    let mut lb = balancer(LbPolicy::default_ring_hash(), endpoints(&[1, 1, 1]));
    let mut random = SplitMix64(0);
    for (host, address) in ["10.0.0.1:8080_0", "10.0.0.2:8080_7", "10.0.0.3:8080_300"]
        .iter()
        .enumerate()
    {
        let point = xxh64(address.as_bytes(), 0);
        assert_eq!(lb.choose_host(Some(point), &mut random), Some(host));
    }
}

fn ring_hash(minimum_ring_size: u64) -> LbPolicy {
    LbPolicy::RingHash {
        minimum_ring_size,
        maximum_ring_size: 8 * 1024 * 1024,
    }
}

/// Fraction of keys whose host changed, and fraction that moved to host `new_host`.
fn moved_between(before: &[usize], after: &[usize], new_host: usize) -> (f64, f64) {
    let keys = before.len() as f64;
    let moved = (0..before.len()).filter(|&k| before[k] != after[k]);
    let all = moved.clone().count() as f64 / keys;
    let to_new = moved.filter(|&k| after[k] == new_host).count() as f64 / keys;
    (all, to_new)
}

#[test]
fn ring_hash_keeps_keys_on_hosts_when_one_is_added() {
    // With 256 points per host before and after, only the keys the new host takes move.
    let keys = 20_000;
    let before = owners(&mut balancer(ring_hash(4 * 256), endpoints(&[1; 4])), keys);
    let after = owners(&mut balancer(ring_hash(5 * 256), endpoints(&[1; 5])), keys);
    let (all, to_new) = moved_between(&before, &after, 4);
    assert_eq!(all, to_new, "keys moved between old hosts");
    assert!((0.15..0.25).contains(&all), "moved {all}");
}

#[test]
fn ring_hash_with_a_fixed_minimum_rescales_every_host() {
    // Envoy re-scales per-host point counts (1024 / 4 = 256 -> ceil(1024 / 5) = 205), so
    // beyond the ~1/5 taken by the new host some keys shuffle between the old ones.
    let keys = 20_000;
    let before = owners(&mut balancer(ring_hash(1024), endpoints(&[1; 4])), keys);
    let after = owners(&mut balancer(ring_hash(1024), endpoints(&[1; 5])), keys);
    let (all, to_new) = moved_between(&before, &after, 4);
    assert!((0.15..0.25).contains(&to_new), "to new host {to_new}");
    assert!(all - to_new < 0.15, "between old hosts {}", all - to_new);
}

#[test]
fn ring_hash_without_a_request_hash_picks_a_random_point() {
    let mut lb = balancer(LbPolicy::default_ring_hash(), endpoints(&[1; 3]));
    let spread = counts(&picks(&mut lb, 3000), 3);
    assert!(spread.iter().all(|&c| c > 800), "{spread:?}");
}

#[test]
fn maglev_spreads_evenly_within_tolerance() {
    let mut lb = balancer(LbPolicy::default_maglev(), endpoints(&[1; 7]));
    // Equal weights take one slot per host per turn: table shares differ by at most one.
    let table: Vec<usize> = (0..65537u64)
        .map(|slot| {
            lb.choose_host(Some(slot), &mut SplitMix64(0))
                .expect("host")
        })
        .collect();
    let spread = counts(&table, 7);
    let (min, max) = (spread.iter().min(), spread.iter().max());
    assert!(
        max.zip(min).is_some_and(|(max, min)| max - min <= 1),
        "{spread:?}"
    );
}

#[test]
fn maglev_table_shares_follow_weights() {
    let mut lb = balancer(LbPolicy::default_maglev(), endpoints(&[1, 3]));
    let table: Vec<usize> = (0..65537u64)
        .map(|slot| {
            lb.choose_host(Some(slot), &mut SplitMix64(0))
                .expect("host")
        })
        .collect();
    let share = counts(&table, 2)[1] as f64 / 65537.0;
    assert!((share - 0.75).abs() < 0.001, "share {share}");
}

#[test]
fn maglev_keeps_most_keys_when_one_host_leaves() {
    let keys = 20_000;
    let before = owners(
        &mut balancer(LbPolicy::default_maglev(), endpoints(&[1; 5])),
        keys,
    );
    let after = owners(
        &mut balancer(LbPolicy::default_maglev(), endpoints(&[1; 4])),
        keys,
    );
    let kept_moved = (0..before.len())
        .filter(|&k| before[k] != 4 && before[k] != after[k])
        .count();
    // Maglev trades a little stability for evenness; the paper reports a few percent.
    assert!(kept_moved * 100 < keys as usize * 5, "moved {kept_moved}");
}

#[test]
fn panic_mode_routes_to_unhealthy_hosts_below_50_percent() {
    let mut hosts = endpoints(&[1; 4]);
    for host in &mut hosts[1..] {
        host.health = Health::Unhealthy;
    }
    let mut lb = balancer(LbPolicy::RoundRobin, hosts.clone());
    assert!(lb.in_panic());
    assert_eq!(counts(&picks(&mut lb, 8), 4), [2, 2, 2, 2]);

    // Exactly 50 % healthy is not panic: only the healthy hosts are used.
    hosts[1].health = Health::Healthy;
    lb.update(hosts);
    assert!(!lb.in_panic());
    assert_eq!(counts(&picks(&mut lb, 8), 4), [4, 4, 0, 0]);
}

#[test]
fn all_unhealthy_routes_in_panic_unless_the_threshold_is_zero() {
    let mut hosts = endpoints(&[1; 2]);
    for host in &mut hosts {
        host.health = Health::Unhealthy;
    }
    let mut lb = balancer(LbPolicy::default_ring_hash(), hosts.clone());
    assert!(lb.choose_host(Some(42), &mut SplitMix64(0)).is_some());

    let mut lb = LoadBalancer::new(
        LbConfig {
            policy: LbPolicy::default_ring_hash(),
            healthy_panic_threshold: 0.0,
            seed: 0,
        },
        hosts,
    );
    assert_eq!(lb.choose_host(Some(42), &mut SplitMix64(0)), None);
}

#[test]
fn empty_cluster_has_no_host() {
    for policy in [
        LbPolicy::RoundRobin,
        LbPolicy::default_least_request(),
        LbPolicy::Random,
        LbPolicy::default_ring_hash(),
        LbPolicy::default_maglev(),
    ] {
        let mut lb = balancer(policy, Vec::new());
        assert_eq!(
            lb.choose_host(Some(1), &mut SplitMix64(0)),
            None,
            "{policy:?}"
        );
    }
}

#[test]
fn seeded_weighted_round_robin_starts_seed_picks_in() {
    let unseeded = picks(
        &mut balancer(LbPolicy::RoundRobin, endpoints(&[1, 3, 4])),
        200,
    );
    let seeded = |seed| {
        let config = LbConfig {
            policy: LbPolicy::RoundRobin,
            seed,
            ..LbConfig::default()
        };
        picks(&mut LoadBalancer::new(config, endpoints(&[1, 3, 4])), 80)
    };
    for seed in [1u64, 5, 17] {
        assert_eq!(seeded(seed), unseeded[seed as usize..][..80], "seed {seed}");
    }
    // Envoy's emulated pre-picks may break ties between equal deadlines differently,
    // never the shares: 1:3:4 over every 8 picks.
    assert_eq!(counts(&seeded(100), 3), [10, 30, 40]);
}
