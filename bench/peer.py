#!/usr/bin/env python3
"""The Python peer of `claims train` / `claims predict`, for bench/run.sh.

What a careful data scientist would write with pandas + scikit-learn + XGBoost's Python
package on the same files and the same default config (config/default.toml):

  train    read_csv -> drop the unused columns -> native pandas categoricals -> stratified
           70/15/15 train/validation/test split -> random search (ParameterSampler over the
           same space) with StratifiedKFold on the training split, every fold fitted with
           early stopping (logloss, 15 rounds) on that fold's held-out part, candidates
           ranked by mean fold ROC AUC -> refit of the best on the training split with early
           stopping on validation -> F1-optimal threshold on validation -> test ROC AUC once
           -> model.json + meta.json (feature order, category dtypes, threshold).
  predict  read_csv with the saved category dtypes -> predict_proba -> (unless --no-reasons)
           the top 3 TreeSHAP contributions toward each row's decision (pred_contribs:
           positive for a predicted claim, negative otherwise), as JSON text
           like the Rust side -> DataFrame.to_sql into a SQLite table with the same columns
           and primary key as the Rust sink, after deleting the business date's rows.
  import-rust-model
           bench plumbing, not part of the peer's work: turns a `claims` model folder
           (model.json + preprocessor.json + params.json) into a peer model folder, so that
           both sides score 1M rows with the very same trees.

Each command prints one JSON line last on stdout (wall seconds from process start).
XGBoost threads are always set explicitly (n_jobs); see --workers/--fit-threads.
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xgboost as xgb  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from scipy.stats import randint, uniform  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_auc_score  # noqa: E402
from sklearn.model_selection import ParameterSampler, StratifiedKFold, train_test_split  # noqa: E402

# The default config (config/default.toml), restated.
TARGET = "claim_status"
ID = "application_id"
DROP = ["family_history_3", "employment_type", "insurance_hist_2", "insurance_hist_3"]
CATEGORICAL = [
    "gender", "marital_status", "occupation", "location", "prev_claim_rejected",
    "known_health_conditions", "uk_residence", "family_history_1", "family_history_2",
    "family_history_4", "family_history_5", "product_var_1", "product_var_2",
    "product_var_3", "product_var_4", "health_status", "driving_record",
    "previous_claim_rate", "education_level", "income level",
]
VALIDATION, TEST = 0.15, 0.15
EARLY_STOPPING_ROUNDS = 15
METRIC = "logloss"
TOP_REASONS = 3
# Same space as [search.space]: ints uniform on [min, max], floats uniform on [min, max).
SPACE = {
    "n_estimators": randint(50, 501),
    "learning_rate": uniform(0.01, 0.75),
    "subsample": uniform(0.25, 0.75),
    "max_depth": randint(1, 8),
    "colsample_bytree": uniform(0.1, 0.75),
    "min_child_weight": [1, 3, 5, 7, 9],
}

DDL = """
CREATE TABLE IF NOT EXISTS predictions(
  business_date TEXT NOT NULL, application_id TEXT NOT NULL, model_version INTEGER NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('champion', 'challenger')), score REAL NOT NULL,
  predicted_claim INTEGER NOT NULL, threshold REAL NOT NULL, top_reasons TEXT NOT NULL,
  run_id TEXT NOT NULL, scored_at TEXT NOT NULL,
  PRIMARY KEY (business_date, application_id, role));
"""


def wall():
    return round(time.perf_counter() - T0, 3)


def classifier(params, n_jobs, seed):
    return xgb.XGBClassifier(
        **params,
        objective="binary:logistic",
        tree_method="hist",
        enable_categorical=True,
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        eval_metric=METRIC,
        n_jobs=n_jobs,
        random_state=seed,
    )


def evaluate_candidate(params, X, y, folds, fit_threads, seed):
    """Mean held-out ROC AUC over the folds; each fit early-stops on its held-out part."""
    aucs, rounds = [], []
    for fit_idx, held_idx in folds:
        clf = classifier(params, fit_threads, seed)
        clf.fit(X.iloc[fit_idx], y[fit_idx],
                eval_set=[(X.iloc[held_idx], y[held_idx])], verbose=False)
        # predict_proba uses the best iteration after early stopping.
        aucs.append(roc_auc_score(y[held_idx], clf.predict_proba(X.iloc[held_idx])[:, 1]))
        rounds.append((clf.best_iteration + 1, clf.get_booster().num_boosted_rounds()))
    return float(np.mean(aucs)), float(np.std(aucs)), rounds


def load_candidates(path):
    """Candidates from a JSON list of parameter dicts or from a `claims` metrics.json
    (cv.candidates[].params), to compare both sides on the very same search."""
    with open(path) as f:
        d = json.load(f)
    if isinstance(d, dict):
        d = [c["params"] for c in sorted(d["cv"]["candidates"], key=lambda c: c["index"])]
    ints = ("n_estimators", "max_depth")
    return [{k: int(v) if k in ints else float(v) for k, v in p.items()} for p in d]


def train(a):
    df = pd.read_csv(a.data, dtype={c: "string" for c in CATEGORICAL})
    y = df.pop(TARGET).to_numpy(dtype=np.int64)
    X = df.drop(columns=[c for c in DROP + [ID] if c in df.columns])
    idx = np.arange(len(X))
    rest, test = train_test_split(idx, test_size=TEST, stratify=y, random_state=a.seed)
    tr, va = train_test_split(rest, test_size=VALIDATION / (1 - TEST), stratify=y[rest],
                              random_state=a.seed)
    # Category dtypes from the training split only; unseen values become missing.
    dtypes = {c: pd.CategoricalDtype(sorted(X[c].iloc[tr].dropna().unique()))
              for c in CATEGORICAL}
    X = X.astype(dtypes)
    X_tr, X_va, X_te = X.iloc[tr], X.iloc[va], X.iloc[test]
    y_tr, y_va, y_te = y[tr], y[va], y[test]

    folds = list(StratifiedKFold(a.folds, shuffle=True, random_state=a.seed).split(X_tr, y_tr))
    if a.candidates:
        cands = load_candidates(a.candidates)
    else:
        cands = list(ParameterSampler(SPACE, n_iter=a.iters, random_state=a.seed))
    t_search = time.perf_counter()
    results = Parallel(n_jobs=a.workers, backend=a.backend)(
        delayed(evaluate_candidate)(p, X_tr, y_tr, folds, a.fit_threads, a.seed) for p in cands)
    t_search = time.perf_counter() - t_search
    best = max(range(len(cands)), key=lambda i: (results[i][0], -i))  # ties: earlier draw
    params = {k: (float(v) if isinstance(v, (float, np.floating)) else int(v))
              for k, v in cands[best].items()}

    t_fit = time.perf_counter()
    clf = classifier(params, a.refit_threads, a.seed)
    clf.fit(X_tr, y_tr, eval_set=[(X_va, y_va)], verbose=False)
    t_fit = time.perf_counter() - t_fit
    p_va = clf.predict_proba(X_va)[:, 1]
    prec, rec, thr = precision_recall_curve(y_va, p_va)
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    threshold = float(thr[int(np.argmax(f1))])
    test_auc = float(roc_auc_score(y_te, clf.predict_proba(X_te)[:, 1]))

    if a.out:
        os.makedirs(a.out, exist_ok=True)
        clf.save_model(os.path.join(a.out, "model.json"))
        with open(os.path.join(a.out, "meta.json"), "w") as f:
            json.dump({
                "features": list(X.columns),
                "categories": {c: list(d.categories) for c, d in dtypes.items()},
                "threshold": threshold,
                "params": params,
                "rounds": clf.best_iteration + 1,
            }, f, indent=1)
    print(json.dumps({
        "command": "train", "wall_s": wall(), "search_s": round(t_search, 3),
        "fit_s": round(t_fit, 3), "rows": len(X), "candidates": len(cands), "folds": a.folds,
        "workers": a.workers, "fit_threads": a.fit_threads, "backend": a.backend,
        "refit_threads": a.refit_threads,
        "cv_roc_auc": results[best][0], "test_roc_auc": test_auc,
        # Workload of the search (it depends on the candidates drawn): trees kept and trees
        # boosted (kept + the early-stopping patience), summed over all fits.
        "search_rounds_kept": sum(k for r in results for k, _ in r[2]),
        "search_rounds_boosted": sum(b for r in results for _, b in r[2]),
        "rounds": clf.best_iteration + 1, "threshold": threshold,
        "params": params,
    }))


def shown(s):
    """Values as a reviewer reads them: categories as they are, whole numbers as they are,
    measurements to 4 decimals, "missing" when empty (the Rust side's rule)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype("string").fillna("missing").to_numpy(dtype=object)
    a = s.to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.full(len(a), "missing", dtype=object)
    nan = np.isnan(a)
    whole = ~nan & (a == np.floor(a))
    frac = ~nan & ~whole
    out[whole] = a[whole].astype(np.int64).astype(str)
    out[frac] = np.char.mod("%.4f", a[frac])
    return out


def reasons_json(contrib, names, Xb, claim):
    """The reasons for each row's decision as JSON text: [{feature, value, contribution}].
    For a predicted claim (`claim` true) the largest positive contributions, otherwise the
    most negative ones (what kept the score down), with their sign, as `claims` stores them."""
    F = len(names)
    sign = np.where(claim, 1.0, -1.0).astype(np.float32)[:, None]
    c = contrib[:, :F] * sign  # the last column is the bias; > 0: toward the decision
    k = min(TOP_REASONS, F)
    top = np.argpartition(-c, k - 1, axis=1)[:, :k]
    topv = np.take_along_axis(c, top, axis=1)
    order = np.argsort(-topv, axis=1)
    top = np.take_along_axis(top, order, axis=1)
    topv = np.take_along_axis(topv, order, axis=1)
    n = len(Xb)
    vals = []  # the shown value (as text, "missing" when empty), only for the chosen cells
    for r in range(k):
        v = np.empty(n, dtype=object)
        for j in np.unique(top[:, r]):
            m = top[:, r] == j
            v[m] = shown(Xb[names[j]][m])
        vals.append(v)
    out = []
    dumps = json.dumps
    for i in range(n):
        lst = []
        for r in range(k):
            if topv[i, r] > 0:
                lst.append({"feature": names[top[i, r]], "value": vals[r][i],
                            "contribution": round(float(topv[i, r] * sign[i, 0]), 4)})
        out.append(dumps(lst, separators=(",", ":"), sort_keys=True))
    return out


def predict(a):
    with open(os.path.join(a.model_dir, "meta.json")) as f:
        meta = json.load(f)
    names = meta["features"]
    dtypes = {c: pd.CategoricalDtype(v) for c, v in meta["categories"].items()}
    df = pd.read_csv(a.data, dtype={**dtypes, ID: "string"})
    ids = df[ID] if ID in df.columns else pd.Series(
        [f"{os.path.basename(a.data)}:{i + 1}" for i in range(len(df))])
    X = df[names]
    booster = xgb.Booster()
    booster.load_model(os.path.join(a.model_dir, "model.json"))
    booster.set_param({"nthread": a.threads})
    scores = np.empty(len(X), dtype=np.float64)
    threshold = meta["threshold"]
    reasons = []
    batch = 100_000
    for start in range(0, len(X), batch):
        end = min(start + batch, len(X))
        Xb = X.iloc[start:end]
        dm = xgb.DMatrix(Xb, enable_categorical=True, nthread=a.threads)
        scores[start:end] = booster.predict(dm)
        if a.no_reasons:
            reasons.extend(["[]"] * (end - start))
        else:
            contrib = booster.predict(dm, pred_contribs=True)
            reasons.extend(reasons_json(contrib, names, Xb, scores[start:end] >= threshold))
    run_id = "peer-" + uuid.uuid4().hex[:8]
    out = pd.DataFrame({
        "business_date": a.date,
        "application_id": ids.to_numpy(dtype=object),
        "model_version": 1,
        "role": "champion",
        "score": scores,
        "predicted_claim": (scores >= threshold).astype(np.int64),
        "threshold": threshold,
        "top_reasons": reasons,
        "run_id": run_id,
        "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    con = sqlite3.connect(a.db)
    con.executescript(DDL)
    with con:  # idempotent per business date, like the Rust sink
        con.execute("DELETE FROM predictions WHERE business_date = ? AND role = 'champion'",
                    (a.date,))
    out.to_sql("predictions", con, if_exists="append", index=False, chunksize=100_000)
    con.commit()
    con.close()
    print(json.dumps({"command": "predict", "wall_s": wall(), "rows": len(out),
                      "reasons": not a.no_reasons, "threads": a.threads,
                      "mean_score": float(scores.mean())}))


def import_rust_model(a):
    with open(os.path.join(a.rust_model_dir, "preprocessor.json")) as f:
        pre = json.load(f)
    with open(os.path.join(a.rust_model_dir, "params.json")) as f:
        params = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    booster = xgb.Booster()
    booster.load_model(os.path.join(a.rust_model_dir, "model.json"))
    booster.save_model(os.path.join(a.out, "model.json"))
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump({
            "features": pre["numeric"] + [c["name"] for c in pre["categorical"]],
            "categories": {c["name"]: c["categories"] for c in pre["categorical"]},
            "threshold": params["threshold"],
            "params": params["hyperparams"],
            "rounds": params["rounds"],
        }, f, indent=1)
    print(json.dumps({"command": "import-rust-model", "wall_s": wall(), "out": a.out}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--iters", type=int, default=40)
    t.add_argument("--folds", type=int, default=5)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--out", help="model folder to write (model.json + meta.json)")
    t.add_argument("--candidates", help="evaluate these candidates instead of drawing --iters"
                   " (JSON list of parameter dicts, or a claims metrics.json)")
    # Measured on 2 shared vCPUs (bench/README.md): two single-threaded fits side by side
    # in threads (XGBoost releases the GIL) beat loky processes slightly and one 2-thread
    # fit at a time by far (OpenMP stalls when the cores are busy).
    t.add_argument("--workers", type=int, default=2, help="candidates evaluated in parallel")
    t.add_argument("--fit-threads", type=int, default=1, help="XGBoost n_jobs per fit")
    t.add_argument("--backend", default="threading", choices=["loky", "threading"])
    t.add_argument("--refit-threads", type=int, default=1, help="XGBoost n_jobs of the final fit")
    p = sub.add_parser("predict")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--date", default="2026-01-01")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="XGBoost threads (default: all available cores, as the Rust side)")
    p.add_argument("--no-reasons", action="store_true", help="skip the TreeSHAP reasons")
    i = sub.add_parser("import-rust-model")
    i.add_argument("--rust-model-dir", required=True)
    i.add_argument("--out", required=True)
    a = ap.parse_args()
    {"train": train, "predict": predict, "import-rust-model": import_rust_model}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
