#!/usr/bin/env python3
"""Golden values for `metric_change` (datafusion-rollout/src/signals/sequential.rs), from an
independent implementation of the same convention with numpy (two-pass variances, not Welford):

    theta = (mean_c - mean_s) / |mean_s|
    V     = var_c / (n_c mean_s^2) + mean_c^2 var_s / (n_s mean_s^4)      (ddof = 1)
    n     = n_c + n_s;  rho^2 = (-2 ln a + ln(-2 ln a + 1)) / 1000
    r     = sqrt(V * 2 (n rho^2 + 1) / (n rho^2) * ln(sqrt(n rho^2 + 1) / a))

Each case draws its arms from a fixed seed and stores (n, mean, m2) per arm and the interval
(None when an arm has fewer than 30 observations or the stable mean is 0).

    python3 datafusion-rollout/tests/golden/sequential.py   # rewrites sequential_cases.json
"""

import json
import math
import pathlib

import numpy as np

ALPHA = 0.05
MIN_N = 30


def interval(c, s):
    nc, ns = len(c), len(s)
    if nc < MIN_N or ns < MIN_N:
        return None
    mc, ms = float(np.mean(c)), float(np.mean(s))
    if ms == 0.0:
        return None
    vc, vs = float(np.var(c, ddof=1)), float(np.var(s, ddof=1))
    v = vc / (nc * ms * ms) + mc * mc * vs / (ns * ms**4)
    est = (mc - ms) / abs(ms)
    l = -2.0 * math.log(ALPHA)
    rho2 = (l + math.log(l + 1.0)) / 1000.0
    nr = (nc + ns) * rho2
    r = math.sqrt(v * 2.0 * (nr + 1.0) / nr * math.log(math.sqrt(nr + 1.0) / ALPHA))
    return est, est - r, est + r


def arm(x):
    x = np.asarray(x, dtype=float)
    mean = float(np.mean(x))
    return {"n": int(len(x)), "mean": mean, "m2": float(np.sum((x - mean) ** 2))}


def main():
    rng = np.random.default_rng(20261203)
    designs = [
        # (n_c, n_s, mean_c, mean_s, sd_c, sd_s)
        (50, 950, 0.97, 1.0, 0.1, 0.1),
        (500, 500, 0.9, 1.0, 0.1, 0.1),
        (1000, 1000, 1.0, 1.0, 1.0, 1.0),
        (30, 30, 2.0, 2.1, 0.5, 0.4),
        (200, 3800, 0.031, 0.030, 0.17, 0.17),
        (1000, 9000, -5.0, -4.0, 2.0, 2.0),
        (10, 1000, 1.0, 1.0, 0.1, 0.1),
        (100, 100, 1.05, 1.0, 0.3, 0.2),
    ]
    cases = []
    for nc, ns, mc, ms, sc, ss in designs:
        c = rng.normal(mc, sc, nc)
        s = rng.normal(ms, ss, ns)
        case = {"candidate": arm(c), "stable": arm(s)}
        got = interval(c, s)
        if got is not None:
            case["estimate"], case["lower"], case["upper"] = got
        cases.append(case)
    out = pathlib.Path(__file__).with_name("sequential_cases.json")
    out.write_text(json.dumps(cases, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
