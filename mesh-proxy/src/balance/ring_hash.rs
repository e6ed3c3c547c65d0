//! Envoy's ring hash (`RingHashLoadBalancer`): a ketama ring of `xxHash64("<address>_<i>")`
//! points, each host getting points in proportion to its normalized weight.

use super::xxhash::xxh64;

/// A sorted ring of `(hash, endpoint index)` points.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    points: Vec<(u64, usize)>,
}

impl Ring {
    /// Builds the ring over `hosts` (`(endpoint index, address, weight)`) exactly as Envoy's
    /// `RingHashLoadBalancer::Ring::Ring`: scale so the lightest host gets a whole number of
    /// points, at least `min_ring_size` and at most `max_ring_size` in all, then hand out
    /// points with running sums so fractional shares stay stable.
    pub(crate) fn new(
        hosts: &[(usize, &str, u32)],
        min_ring_size: u64,
        max_ring_size: u64,
    ) -> Self {
        let total: f64 = hosts.iter().map(|&(_, _, w)| f64::from(w)).sum();
        if hosts.is_empty() || total <= 0.0 {
            return Self { points: Vec::new() };
        }
        let min_normalized = hosts
            .iter()
            .map(|&(_, _, w)| f64::from(w) / total)
            .fold(f64::INFINITY, f64::min);
        let min_ring_size = min_ring_size.min(max_ring_size) as f64;
        let scale =
            ((min_normalized * min_ring_size).ceil() / min_normalized).min(max_ring_size as f64);
        let mut points = Vec::with_capacity(scale.ceil() as usize);
        let mut current = 0.0;
        let mut target = 0.0;
        for &(index, address, weight) in hosts {
            target += scale * (f64::from(weight) / total);
            let mut i = 0u64;
            while current < target {
                let key = format!("{address}_{i}");
                points.push((xxh64(key.as_bytes(), 0), index));
                i += 1;
                current += 1.0;
            }
        }
        points.sort_by_key(|&(hash, _)| hash);
        Self { points }
    }

    /// The endpoint owning `hash`: the first point at or after it, wrapping to the first.
    /// This is Envoy's port of ketama's `ketama_get_server` search, kept literally so that
    /// ties and edge hashes land where Envoy's do.
    pub(crate) fn lookup(&self, hash: u64) -> Option<usize> {
        let len = self.points.len() as i64;
        if len == 0 {
            return None;
        }
        let (mut low, mut high) = (0i64, len);
        let found = loop {
            let mid = (low + high) / 2;
            if mid == len {
                break 0;
            }
            let mid_value = self.points[mid as usize].0;
            let below = if mid == 0 {
                0
            } else {
                self.points[mid as usize - 1].0
            };
            if hash <= mid_value && hash > below {
                break mid;
            }
            if mid_value < hash {
                low = mid + 1;
            } else {
                high = mid - 1;
            }
            if low > high {
                break 0;
            }
        };
        Some(self.points[found as usize].1)
    }

    /// Number of points on the ring.
    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }
}
