//! Statistical checks for random routing decisions (weights, fault percentages).

/// Asserts that `hits` out of `trials` is within `sigmas` standard deviations of a
/// binomial with probability `p`. At 4.5 sigma a correct proxy fails about once in
/// 150,000 runs, while a wrong weight (e.g. 70/30 for 80/20) fails almost always.
pub fn assert_binomial(what: &str, hits: u64, trials: u64, p: f64, sigmas: f64) {
    let (lo, hi) = binomial_bounds(trials, p, sigmas);
    assert!(
        (lo..=hi).contains(&(hits as f64)),
        "{what}: {hits} of {trials}, expected {:.0} ± {:.0} (p = {p}, {sigmas} sigma)",
        trials as f64 * p,
        (hi - lo) / 2.0
    );
}

/// The interval `n p ± sigmas · sqrt(n p (1 - p))`.
pub fn binomial_bounds(trials: u64, p: f64, sigmas: f64) -> (f64, f64) {
    let n = trials as f64;
    let mean = n * p;
    let sd = (n * p * (1.0 - p)).sqrt();
    (mean - sigmas * sd, mean + sigmas * sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighty_twenty_over_2000_allows_about_80_either_way() {
        let (lo, hi) = binomial_bounds(2000, 0.8, 4.5);
        assert!((1519.0..1521.0).contains(&lo), "{lo}");
        assert!((1679.0..1681.0).contains(&hi), "{hi}");
        assert_binomial("ok", 1600, 2000, 0.8, 4.5);
        assert!(std::panic::catch_unwind(|| assert_binomial("bad", 1400, 2000, 0.8, 4.5)).is_err());
    }
}
