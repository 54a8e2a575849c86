//! Golden tests against scipy/numpy fixtures (`udfs/golden/drift_cases.json`, written by
//! `udfs/golden/generate.py`). Statistics at 1e-9 relative, p-values at 1e-7.

use serde_json::Value;

use crate::helpers::{Values, close, ctx, f64_of, register_pooled};

fn parse_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::Number(n) => n.as_f64(),
        Value::String(s) => Some(match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected {other}"),
        }),
        other => panic!("unexpected {other}"),
    }
}

fn values(ty: &str, v: &Value) -> Values {
    let arr = v.as_array().unwrap();
    match ty {
        "float64" => Values::F64(arr.iter().map(parse_f64).collect()),
        "int64" => Values::I64(arr.iter().map(|x| x.as_i64()).collect()),
        "utf8" => Values::Str(arr.iter().map(|x| x.as_str().map(str::to_owned)).collect()),
        other => panic!("type {other}"),
    }
}

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/drift_cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_matches_scipy() {
    let fixtures = load();
    let ctx = ctx();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in fixtures["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let ty = case["type"].as_str().unwrap();
        let base = values(ty, &case["baseline"]);
        let cand = values(ty, &case["candidate"]);
        register_pooled(&ctx, "t", &base, &cand, 3, 97);
        for (key, exp) in case["expected"].as_object().unwrap() {
            let exp = parse_f64(exp).unwrap();
            let (func, conv) = match key.split_once(':') {
                Some((f, c)) => (f, Some(c)),
                None => (key.as_str(), None),
            };
            let sql = match conv {
                Some(c) => format!("SELECT {func}(v, c, '{c}') FROM t"),
                None => format!("SELECT {func}(v, c) FROM t"),
            };
            let got = f64_of(&ctx, &sql).await;
            let tol = if func.ends_with("pvalue") { 1e-7 } else { 1e-9 };
            if !close(got, exp, tol) {
                failures.push(format!("{name}: {sql} = {got:e}, scipy {exp:e}"));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 200, "only {checked} values checked");
}

#[tokio::test]
async fn drift_summary_matches_individual_functions() {
    let fixtures = load();
    let ctx = ctx();
    let case = &fixtures["cases"].as_array().unwrap()[2];
    let ty = case["type"].as_str().unwrap();
    register_pooled(
        &ctx,
        "t",
        &values(ty, &case["baseline"]),
        &values(ty, &case["candidate"]),
        2,
        50,
    );
    for field in [
        "ks_statistic",
        "ks_pvalue",
        "wasserstein_distance",
        "wasserstein_normed",
        "psi",
        "js_distance",
        "hellinger",
    ] {
        let s = f64_of(
            &ctx,
            &format!("SELECT drift_summary(v, c)['{field}'] FROM t"),
        )
        .await;
        let f = f64_of(&ctx, &format!("SELECT {field}(v, c) FROM t")).await;
        assert_eq!(s.to_bits(), f.to_bits(), "{field}");
    }
    let n = crate::helpers::scalar(&ctx, "SELECT drift_summary(v, c)['n_candidate'] FROM t").await;
    assert_eq!(n, datafusion::scalar::ScalarValue::UInt64(Some(200)));
}

#[tokio::test]
async fn categorical_encodings_agree() {
    let ctx = ctx();
    let base: Vec<Option<String>> = ["a"; 50]
        .iter()
        .chain(["b"; 30].iter())
        .chain(["c"; 20].iter())
        .map(|s| Some(s.to_string()))
        .collect();
    let cand: Vec<Option<String>> = ["a"; 40]
        .iter()
        .chain(["b"; 40].iter())
        .chain(["c"; 20].iter())
        .map(|s| Some(s.to_string()))
        .collect();
    register_pooled(&ctx, "t", &Values::Str(base), &Values::Str(cand), 2, 7);
    for f in [
        "psi",
        "js_distance",
        "hellinger",
        "chi2_statistic",
        "chi2_pvalue",
    ] {
        let plain = f64_of(&ctx, &format!("SELECT {f}(v, c) FROM t")).await;
        let dict = f64_of(
            &ctx,
            &format!("SELECT {f}(arrow_cast(v, 'Dictionary(Int32, Utf8)'), c) FROM t"),
        )
        .await;
        let view = f64_of(
            &ctx,
            &format!("SELECT {f}(arrow_cast(v, 'Utf8View'), c) FROM t"),
        )
        .await;
        assert_eq!(plain.to_bits(), dict.to_bits(), "{f}");
        assert_eq!(plain.to_bits(), view.to_bits(), "{f}");
    }
    // quality-anchors §B5
    assert!(close(
        f64_of(&ctx, "SELECT chi2_pvalue(v, c) FROM t").await,
        0.069_483_451_2,
        1e-9
    ));
    let b = f64_of(&ctx, "SELECT chi2_pvalue(v = 'a', c) FROM t").await;
    assert!(b > 0.0 && b < 1.0);
}
