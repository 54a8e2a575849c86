#!/usr/bin/env python3
"""Golden fixtures for the drift aggregates of datafusion-rollout-udfs.

Writes udfs/golden/drift_cases.json. The Rust tests read that file; they do not need Python.
Run:  pip install numpy scipy && python3 udfs/golden/generate.py

References (the conventions documented on each SQL function):
- ks_statistic / ks_pvalue: scipy.stats.ks_2samp(base, cand) (two-sided, method='auto')
- wasserstein_distance: scipy.stats.wasserstein_distance(base, cand)
- wasserstein_normed: W1 / max(np.std(base), 0.001)       (Evidently)
- psi / js_distance / hellinger: Evidently's get_binned_data, re-implemented below from its
  source (Sturges edges over the pooled sample when the baseline has > 20 distinct values,
  otherwise one bin per value); 'deciles' = numpy linear quantiles of the baseline.
- chi2: scipy.stats.chisquare(cand counts, base counts * m/n)  (Evidently)
NULL / NaN / inf are dropped from both sides before anything else ("values" lists keep them,
encoded as null / "nan" / "inf" strings so the Rust side can feed them to SQL).
"""
import json
import math
import os
import sys

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance


def clean(xs):
    out = []
    for x in xs:
        if x is None:
            continue
        if isinstance(x, str):
            out.append(x)
            continue
        if isinstance(x, float) and not math.isfinite(x):
            continue
        out.append(x)
    return out


def evidently_binned(ref, cur, numeric, fill):
    """Evidently get_binned_data (n_bins argument ignored, as in Evidently)."""
    ref_s = np.asarray(ref)
    cur_s = np.asarray(cur)
    if numeric and len(np.unique(ref_s)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref_s, cur_s]), bins="sturges")
        rp = np.histogram(ref_s, bins)[0] / len(ref_s)
        cp = np.histogram(cur_s, bins)[0] / len(cur_s)
    else:
        keys = sorted(set(ref_s.tolist()) | set(cur_s.tolist()))
        rc = {k: 0 for k in keys}
        cc = {k: 0 for k in keys}
        for v in ref_s.tolist():
            rc[v] += 1
        for v in cur_s.tolist():
            cc[v] += 1
        rp = np.array([rc[k] for k in keys]) / len(ref_s)
        cp = np.array([cc[k] for k in keys]) / len(cur_s)
    if fill:
        for p in (rp, cp):
            nz = p[p != 0]
            f = nz.min() / 10**6 if nz.min() <= 0.0001 else 0.0001
            np.place(p, p == 0, f)
    return rp, cp


def deciles_binned(ref, cur, fill):
    ref = np.asarray(ref, dtype=np.float64)
    cur = np.asarray(cur, dtype=np.float64)
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10, method="linear"))
    k = len(edges) + 1
    rp = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k) / len(ref)
    cp = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k) / len(cur)
    if fill:
        rp = np.where(rp == 0, 0.0001, rp)
        cp = np.where(cp == 0, 0.0001, cp)
    return rp, cp


def psi_of(rp, cp):
    return float(np.sum((rp - cp) * np.log(rp / cp)))


def hellinger_of(rp, cp):
    return float(np.sqrt(np.sum((np.sqrt(rp) - np.sqrt(cp)) ** 2) / 2.0))


def chi2_of(ref, cur):
    keys = sorted(set(ref) | set(cur))
    rc = {k: 0 for k in keys}
    cc = {k: 0 for k in keys}
    for v in ref:
        rc[v] += 1
    for v in cur:
        cc[v] += 1
    k_norm = len(cur) / len(ref)
    f_exp = np.array([rc[k] * k_norm for k in keys])
    f_obs = np.array([cc[k] for k in keys])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = stats.chisquare(f_obs, f_exp)
    return float(r.statistic), float(r.pvalue)


def jsonable(v):
    if v is None:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


def numeric_case(name, base, cand, integer=False):
    b, c = clean(base), clean(cand)
    dtype = np.int64 if integer else np.float64
    bn, cn = np.asarray(b, dtype=dtype), np.asarray(c, dtype=dtype)
    ks = stats.ks_2samp(bn, cn)
    w = stats.wasserstein_distance(bn, cn)
    exp = {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein_distance": float(w),
        "wasserstein_normed": float(w / max(np.std(bn), 0.001)),
    }
    for conv in ("evidently", "deciles"):
        if conv == "evidently":
            rp, cp = evidently_binned(bn, cn, True, True)
            rj, cj = evidently_binned(bn, cn, True, False)
        else:
            rp, cp = deciles_binned(bn, cn, True)
            rj, cj = deciles_binned(bn, cn, False)
        exp[f"psi:{conv}"] = psi_of(rp, cp)
        exp[f"js_distance:{conv}"] = float(distance.jensenshannon(rj, cj))
        exp[f"hellinger:{conv}"] = hellinger_of(rj, cj)
    s, p = chi2_of(b, c)
    exp["chi2_statistic"] = s
    exp["chi2_pvalue"] = p
    return {
        "name": name,
        "type": "int64" if integer else "float64",
        "baseline": [jsonable(x) for x in base],
        "candidate": [jsonable(x) for x in cand],
        "expected": {k: jsonable(v) for k, v in exp.items()},
    }


def categorical_case(name, base, cand):
    b, c = clean(base), clean(cand)
    rp, cp = evidently_binned(b, c, False, True)
    rj, cj = evidently_binned(b, c, False, False)
    s, p = chi2_of(b, c)
    exp = {
        "psi:evidently": psi_of(rp, cp),
        "js_distance:evidently": float(distance.jensenshannon(rj, cj)),
        "hellinger:evidently": hellinger_of(rj, cj),
        "chi2_statistic": s,
        "chi2_pvalue": p,
    }
    return {
        "name": name,
        "type": "utf8",
        "baseline": base,
        "candidate": cand,
        "expected": {k: jsonable(v) for k, v in exp.items()},
    }


def main():
    rng = np.random.default_rng(20261121)
    cases = []
    r = lambda *a: rng.normal(*a)
    cases.append(numeric_case("anchor_1_10_vs_3_12", list(range(1, 11)), list(range(3, 13)), integer=True))
    cases.append(numeric_case("anchor_0_99_vs_50_149", [float(x) for x in range(100)], [float(x) for x in range(50, 150)]))
    cases.append(numeric_case("normal_vs_shifted_200", r(0, 1, 200).tolist(), r(0.3, 1, 200).tolist()))
    cases.append(numeric_case("normal_vs_normal_500_700", r(0, 1, 500).tolist(), r(0, 1, 700).tolist()))
    cases.append(numeric_case("normal_vs_wider_1000_1500", r(0, 1, 1000).tolist(), r(0, 1.2, 1500).tolist()))
    cases.append(numeric_case("heavy_ties", rng.integers(0, 5, 300).astype(float).tolist(), rng.integers(0, 6, 250).astype(float).tolist()))
    cases.append(numeric_case("integers_wide", rng.integers(0, 1000, 400).tolist(), rng.integers(50, 1100, 350).tolist(), integer=True))
    cases.append(numeric_case("integers_narrow_sturges_width1", rng.integers(0, 30, 2000).tolist(), rng.integers(0, 32, 2000).tolist(), integer=True))
    cases.append(numeric_case("tiny_n1_n1", [1.5], [2.5]))
    cases.append(numeric_case("tiny_n1_n2", [1.0], [0.5, 2.0]))
    cases.append(numeric_case("tiny_n2_n5", [0.1, 0.9], [0.2, 0.3, 0.5, 1.2, 1.3]))
    cases.append(numeric_case("tiny_n5_n5", [1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.5, 6.0, 7.0, 8.0]))
    cases.append(numeric_case("identical", [1.0, 2.0, 3.0, 3.0, 4.0], [1.0, 2.0, 3.0, 3.0, 4.0]))
    cases.append(numeric_case("constant_both", [2.0] * 10, [2.0] * 7))
    cases.append(numeric_case("with_nulls_nan_inf",
                              [1.0, None, 2.0, float("nan"), 3.5, float("inf"), 4.0, -1.0, 0.0, 2.0],
                              [None, 1.5, float("-inf"), 2.5, 3.0, float("nan"), 6.0]))
    # both sides of scipy's exact/asymptotic switch (MAX_AUTO_N = 10000)
    cases.append(numeric_case("exact_edge_10000_vs_300", r(0, 1, 10000).tolist(), r(0.05, 1, 300).tolist()))
    cases.append(numeric_case("asymp_10001_vs_300", r(0, 1, 10001).tolist(), r(0.05, 1, 300).tolist()))
    cases.append(numeric_case("asymp_12000_vs_11000_same", r(0, 1, 12000).tolist(), r(0, 1, 11000).tolist()))
    cases.append(numeric_case("asymp_12000_vs_11000_shift", r(0, 1, 12000).tolist(), r(0.04, 1, 11000).tolist()))
    cases.append(numeric_case("asymp_20000_vs_50_shift", r(0, 1, 20000).tolist(), r(0.3, 1, 50).tolist()))
    cases.append(numeric_case("asymp_15000_vs_120_big_shift", r(0, 1, 15000).tolist(), r(1.0, 1, 120).tolist()))
    cases.append(numeric_case("asymp_smirnov_30000_vs_20000_shift", r(0, 1, 30000).tolist(), r(0.05, 1, 20000).tolist()))
    cases.append(numeric_case("exact_equal_sizes_3000", r(0, 1, 3000).tolist(), r(0.1, 1, 3000).tolist()))
    cases.append(numeric_case("unequal_37_vs_5000", r(0, 1, 37).tolist(), r(0.5, 2, 5000).tolist()))
    cases.append(numeric_case("small_std_normed_floor", (1.0 + r(0, 0.0001, 100)).tolist(), (1.0 + r(0, 0.0002, 100)).tolist()))
    cases.append(categorical_case("anchor_cat_50_30_20", ["a"] * 50 + ["b"] * 30 + ["c"] * 20, ["a"] * 40 + ["b"] * 40 + ["c"] * 20))
    cases.append(categorical_case("unseen_category_in_candidate", ["x"] * 30 + ["y"] * 10, ["x"] * 20 + ["y"] * 10 + ["z"] * 5))
    cases.append(categorical_case("category_vanished", ["x"] * 30 + ["y"] * 10 + ["w"] * 3, ["x"] * 25 + ["y"] * 12))
    cases.append(categorical_case("with_nulls", ["a", None, "b", "a", None, "c"], ["a", "a", None, "b"]))
    # Distribution tails used by the p-values, on a grid covering every branch of scipy's
    # _kolmogn (Ruben-Gambino, DMTW, Pomeranz, Pelz-Good, smirnov incl. its n > 1e6 form).
    kstwo = []
    for n in [1, 2, 5, 10, 50, 140, 141, 300, 1000, 5000, 50_000, 100_000, 150_000, 999_999, 1_000_001, 5_000_000]:
        for z in [0.3, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0]:
            d = z / math.sqrt(n)
            if d >= 1.0:
                continue
            kstwo.append({"d": d, "n": n, "sf": float(stats.kstwo.sf(d, n))})
        for d in [0.5, 0.7, 0.95]:
            kstwo.append({"d": d, "n": n, "sf": float(stats.kstwo.sf(d, n))})
    chi2 = []
    for df in [1, 2, 3, 5, 10, 50, 200, 5000]:
        for q in [0.01, 0.1, 0.5, 1.0, 2.0, 5.0]:
            x = df * q
            chi2.append({"x": x, "df": df, "sf": float(stats.chi2.sf(x, df))})
    out = {
        "generator": "udfs/golden/generate.py",
        "kstwo_sf": kstwo,
        "chi2_sf": chi2,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drift_cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
