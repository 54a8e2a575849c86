//! The anytime-valid test behind `metric_change('m')`: a confidence sequence for the relative
//! change of a metric's mean, candidate arm against stable arm, that may be looked at every
//! controller round without inflating the error rate.
//!
//! **Method**: the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and
//! Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences" (Annals of
//! Statistics, 2024), with the normal-mixture boundary of Howard, Ramdas, McAuliffe and Sekhon
//! (Annals of Statistics, 2021): for an estimator that behaves like a mean of `n` observations
//! with standard deviation `σ`,
//!
//! ```text
//! θ̂ₙ ± σ̂ · sqrt( 2 (n ρ² + 1) / (n² ρ²) · ln( sqrt(n ρ² + 1) / α ) )
//! ```
//!
//! covers θ at every `n` at once with probability ≥ 1 − α (asymptotically).
//!
//! **Conventions**:
//! - θ = (μ_c − μ_s) / |μ_s|, estimated by plugging in the arms' means.
//! - Its variance by the delta method: `V = s_c² / (n_c μ_s²) + μ_c² s_s² / (n_s μ_s⁴)`, with
//!   sample variances (ddof = 1). Unequal arms (a 5% stage) enter through `n_c`, `n_s`.
//! - "Time" is the total number of observations `n = n_c + n_s`, so `σ̂² = n V` and the radius
//!   is `sqrt( V · 2 (n ρ² + 1) / (n ρ²) · ln( sqrt(n ρ² + 1) / α ) )`.
//! - ρ makes the boundary (near-)tightest around `n* = 1000` observations:
//!   `ρ² = (−2 ln α + ln(−2 ln α + 1)) / n*` (the tuning discussed by Waudby-Smith et al.).
//! - α = 0.05 ([`DEFAULT_ALPHA`]); no verdict below [`MIN_SAMPLES_PER_ARM`] observations per
//!   arm, a stable mean of 0, or a zero variance on both arms.
//!
//! A guard `metric_change('m') >= t` fails when the whole interval lies below `t`, passes when
//! it lies at or above `t`, and is pending otherwise. Golden values:
//! `datafusion-rollout/tests/golden/sequential.py` (an independent implementation) wrote
//! `sequential_cases.json`; the simulation of error rates is the test
//! `signals::sequential::tests::simulated_error_rates`.

/// The default error rate of `metric_change` (5%).
pub const DEFAULT_ALPHA: f64 = 0.05;

/// Observations each arm needs before `metric_change` decides (the normal approximation of
/// the asymptotic sequence needs a few dozen; the simulation shows the error rate holds).
pub const MIN_SAMPLES_PER_ARM: u64 = 30;

/// The sample size at which the boundary is tightest.
const TARGET_N: f64 = 1000.0;

/// Count, mean and sum of squared deviations of one arm (Welford), mergeable.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArmStats {
    /// Observations.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl ArmStats {
    /// Adds one observation.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The statistics of `values`.
    pub fn from_values(values: &[f64]) -> ArmStats {
        let mut s = ArmStats::default();
        for &x in values {
            s.push(x);
        }
        s
    }

    /// Both arms' observations together (Chan et al.'s parallel merge).
    pub fn merge(&self, other: &ArmStats) -> ArmStats {
        if self.n == 0 {
            return *other;
        }
        if other.n == 0 {
            return *self;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        let mean = self.mean + delta * other.n as f64 / n as f64;
        let m2 = self.m2 + other.m2 + delta * delta * (self.n as f64 * other.n as f64) / n as f64;
        ArmStats { n, mean, m2 }
    }

    /// The sample variance (ddof = 1); 0 below two observations.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }
}

/// The relative change and its anytime-valid interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeInterval {
    /// (μ_c − μ_s) / |μ_s|.
    pub estimate: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// Candidate observations.
    pub n_candidate: u64,
    /// Stable observations.
    pub n_stable: u64,
}

/// The anytime-valid interval for the relative change of the candidate's mean against the
/// stable's; `None` below [`MIN_SAMPLES_PER_ARM`] per arm, with a stable mean of 0 or not
/// finite, or when both arms have zero variance (nothing to judge the noise by).
pub fn relative_change(
    candidate: &ArmStats,
    stable: &ArmStats,
    alpha: f64,
) -> Option<ChangeInterval> {
    if candidate.n < MIN_SAMPLES_PER_ARM || stable.n < MIN_SAMPLES_PER_ARM {
        return None;
    }
    let (mc, ms) = (candidate.mean, stable.mean);
    if ms == 0.0 || !ms.is_finite() || !mc.is_finite() {
        return None;
    }
    let (vc, vs) = (candidate.variance(), stable.variance());
    if vc == 0.0 && vs == 0.0 {
        return None;
    }
    let (nc, ns) = (candidate.n as f64, stable.n as f64);
    let variance = vc / (nc * ms * ms) + mc * mc * vs / (ns * ms.powi(4));
    let estimate = (mc - ms) / ms.abs();
    let radius = radius(variance, nc + ns, alpha);
    Some(ChangeInterval {
        estimate,
        lower: estimate - radius,
        upper: estimate + radius,
        n_candidate: candidate.n,
        n_stable: stable.n,
    })
}

/// The boundary's half-width for an estimator of variance `variance` after `n` observations.
fn radius(variance: f64, n: f64, alpha: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    let rho2 = (l + (l + 1.0).ln()) / TARGET_N;
    let nr = n * rho2;
    (variance * 2.0 * (nr + 1.0) / nr * ((nr + 1.0).sqrt() / alpha).ln()).sqrt()
}

/// Which side of the threshold a guard wants the change on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>=` or `>`: the change must be at least the threshold.
    AtLeast,
    /// `<=` or `<`: the change must be at most the threshold.
    AtMost,
}

/// A sequential guard's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequentialVerdict {
    /// Not enough evidence either way (or too few samples): never a failure.
    Pending,
    /// The whole interval is on the right side of the threshold.
    Pass,
    /// The whole interval is on the wrong side.
    Fail,
}

/// Judges `interval` against `op threshold`.
pub fn decide(
    interval: Option<&ChangeInterval>,
    op: Comparison,
    threshold: f64,
) -> SequentialVerdict {
    let Some(i) = interval else {
        return SequentialVerdict::Pending;
    };
    match op {
        Comparison::AtLeast if i.upper < threshold => SequentialVerdict::Fail,
        Comparison::AtLeast if i.lower >= threshold => SequentialVerdict::Pass,
        Comparison::AtMost if i.lower > threshold => SequentialVerdict::Fail,
        Comparison::AtMost if i.upper <= threshold => SequentialVerdict::Pass,
        _ => SequentialVerdict::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_and_merge_agree_with_the_textbook() {
        let a = ArmStats::from_values(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((a.n, a.mean), (4, 2.5));
        assert!((a.variance() - 5.0 / 3.0).abs() < 1e-12);
        let b = ArmStats::from_values(&[10.0, 20.0]);
        let all = ArmStats::from_values(&[1.0, 2.0, 3.0, 4.0, 10.0, 20.0]);
        let merged = a.merge(&b);
        assert_eq!(merged.n, all.n);
        assert!((merged.mean - all.mean).abs() < 1e-12);
        assert!((merged.m2 - all.m2).abs() < 1e-9);
    }

    #[test]
    fn matches_the_golden_values_of_an_independent_implementation() {
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/golden/sequential_cases.json"))
                .unwrap_or_default();
        let cases = cases.as_array().cloned().unwrap_or_default();
        assert!(cases.len() >= 6, "golden cases missing");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        for case in cases {
            let arm = |k: &str| ArmStats {
                n: case[k]["n"].as_u64().unwrap_or_default(),
                mean: case[k]["mean"].as_f64().unwrap_or_default(),
                m2: case[k]["m2"].as_f64().unwrap_or_default(),
            };
            let got = relative_change(&arm("candidate"), &arm("stable"), DEFAULT_ALPHA);
            match (&got, case["estimate"].as_f64()) {
                (Some(i), Some(estimate)) => {
                    let lower = case["lower"].as_f64().unwrap_or_default();
                    let upper = case["upper"].as_f64().unwrap_or_default();
                    assert!(close(i.estimate, estimate), "{case}: {i:?}");
                    assert!(close(i.lower, lower), "{case}: {i:?}");
                    assert!(close(i.upper, upper), "{case}: {i:?}");
                }
                (None, None) => {}
                _ => panic!("{case}: got {got:?}"),
            }
        }
    }

    #[test]
    fn verdicts() {
        let i = ChangeInterval {
            estimate: -0.1,
            lower: -0.15,
            upper: -0.05,
            n_candidate: 100,
            n_stable: 100,
        };
        assert_eq!(
            decide(Some(&i), Comparison::AtLeast, -0.02),
            SequentialVerdict::Fail
        );
        assert_eq!(
            decide(Some(&i), Comparison::AtLeast, -0.2),
            SequentialVerdict::Pass
        );
        assert_eq!(
            decide(Some(&i), Comparison::AtLeast, -0.1),
            SequentialVerdict::Pending
        );
        assert_eq!(
            decide(Some(&i), Comparison::AtMost, -0.2),
            SequentialVerdict::Fail
        );
        assert_eq!(
            decide(Some(&i), Comparison::AtMost, 0.0),
            SequentialVerdict::Pass
        );
        assert_eq!(
            decide(None, Comparison::AtMost, 0.0),
            SequentialVerdict::Pending
        );
    }

    /// splitmix64 + Box–Muller: a fixed-seed source of normal draws.
    struct Normals(u64);

    impl Normals {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn draw(&mut self, mean: f64, sd: f64) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Share of `runs` simulated rollouts that fail the guard `metric_change >= -0.02` at any
    /// of `rounds` looks, each round adding `per_round` = (candidate, stable) observations;
    /// the candidate's mean is `1 + change`, both arms have standard deviation `sd`.
    fn rollback_rate(
        seed: u64,
        runs: usize,
        rounds: usize,
        per_round: (usize, usize),
        change: f64,
        sd: f64,
    ) -> f64 {
        let mut rng = Normals(seed);
        let mut rolled_back = 0;
        for _ in 0..runs {
            let (mut c, mut s) = (ArmStats::default(), ArmStats::default());
            for _ in 0..rounds {
                for _ in 0..per_round.0 {
                    c.push(rng.draw(1.0 + change, sd));
                }
                for _ in 0..per_round.1 {
                    s.push(rng.draw(1.0, sd));
                }
                let i = relative_change(&c, &s, DEFAULT_ALPHA);
                if decide(i.as_ref(), Comparison::AtLeast, -0.02) == SequentialVerdict::Fail {
                    rolled_back += 1;
                    break;
                }
            }
        }
        rolled_back as f64 / runs as f64
    }

    /// The error rates of the guard `metric_change('m') >= -0.02`, looked at every round:
    /// 1,000 simulated rollouts per line, fixed seeds. `cargo test -p datafusion-rollout --lib
    /// sequential -- --nocapture` prints the figures (SEQUENTIAL.md records them).
    #[test]
    fn simulated_error_rates() {
        // (label, per-round (candidate, stable) observations, sd)
        let designs = [
            ("5% stage, cv 0.1", (10, 190), 0.1),
            ("50% stage, cv 0.1", (50, 50), 0.1),
            ("50% stage, cv 0.5", (100, 100), 0.5),
        ];
        for (k, (label, per_round, sd)) in designs.into_iter().enumerate() {
            let seed = 1000 + k as u64;
            let at_zero = rollback_rate(seed, 1000, 20, per_round, 0.0, sd);
            let at_edge = rollback_rate(seed + 10, 1000, 20, per_round, -0.02, sd);
            let power = rollback_rate(seed + 20, 1000, 20, per_round, -0.05, sd);
            eprintln!(
                "metric_change >= -0.02, {label}, 20 rounds of {per_round:?}: false rollbacks {:.1}% (no change), {:.1}% (change = -2%, the threshold); power against -5%: {:.1}%",
                at_zero * 100.0,
                at_edge * 100.0,
                power * 100.0
            );
            assert!(at_zero <= 0.05, "{label}: {at_zero}");
            assert!(at_edge <= 0.05, "{label}: {at_edge}");
            if k == 1 {
                // 1,000 observations per arm by the end: a 5% regression is caught.
                assert!(power >= 0.9, "{label}: power {power}");
            }
        }
    }
}
