//! The monthly training pipeline: load -> contract -> split -> preprocess -> imbalance ->
//! search (stratified k-fold CV on the training split) -> final fit (early stopping on the
//! validation split) -> threshold (on validation) -> evaluate (test split, once) ->
//! register. A contract violation fails the run with exit 3 and registers nothing.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

pub use super::gate::GateSummary;
use super::gate::{self, effective_toml};
use super::train_report::model_report;
use super::{PipelineEvent, RunCtx};
use crate::config::{Config, Imbalance};
use crate::data::{contract, load, split};
use crate::error::{ClaimsError, Result, Violation};
use crate::eval::evaluate;
use crate::features::Preprocessor;
use crate::model::fit::{HeldOutRows, fit};
use crate::model::params::{FitSettings, Hyperparams};
use crate::model::search::{self, SearchData, SearchStrategy, SearchSummary};
use crate::model::xgb;
use crate::monitor::profile;
use crate::registry::{DataFileRecord, Manifest, Registry, code_version};

pub use super::train_types::{TrainOutcome, TrainRequest, registered_label};

fn violations_for_labels(files: &[String], y: &[u8], folds: usize) -> Option<ClaimsError> {
    let pos = y.iter().filter(|&&v| v == 1).count();
    let neg = y.len() - pos;
    let file = files.join(", ");
    let reason = if pos == 0 || neg == 0 {
        format!(
            "the labels hold a single class ({} rows, all {}): training needs both 0 and 1",
            y.len(),
            if pos == 0 { 0 } else { 1 }
        )
    } else if pos.min(neg) < 4 * folds {
        format!(
            "only {} rows of the minority class: at least {} are needed for {folds}-fold CV and the three splits",
            pos.min(neg),
            4 * folds
        )
    } else {
        return None;
    };
    Some(ClaimsError::Contract(vec![Violation {
        file,
        row: None,
        column: None,
        reason,
        line: None,
    }]))
}

/// Runs the training pipeline end to end and records the run.
pub fn train(
    cfg: &Config,
    home: &Path,
    req: &TrainRequest,
    events: Option<Sender<PipelineEvent>>,
    cancel: Arc<AtomicBool>,
) -> Result<TrainOutcome> {
    if req.data.is_empty() {
        return Err(ClaimsError::Usage(
            "train needs at least one --data FILE".into(),
        ));
    }
    let req = &TrainRequest {
        data: req.data.iter().map(|p| super::absolute(p)).collect(),
        ..req.clone()
    };
    load::refuse_repeats(&req.data)?;
    // A mistyped option is refused before a run is recorded (it would read as the
    // scheduled job's failure in `schedule status`).
    let folds = req.folds.unwrap_or(cfg.search.folds);
    let iters = req.search_iters.unwrap_or(cfg.search.iterations);
    if !(2..=20).contains(&folds) || iters == 0 {
        return Err(ClaimsError::Usage(if iters == 0 {
            "--search-iters '0': must be at least 1".to_string()
        } else {
            format!("--folds '{folds}': must be in [2, 20]")
        }));
    }
    let _lock = crate::schedule::lock::RunLock::acquire(home, "train")?;
    let args = serde_json::to_string(req).unwrap_or_default();
    let ctx = RunCtx::start(home, "train", &args, events, cancel)?;
    let _in_run = ctx.span().entered();
    let out = run(cfg, home, req, &ctx);
    if out.is_err() {
        super::train_report::drop_if_unregistered(home, &ctx.run_id);
    }
    ctx.finish(&out)?;
    out
}

fn run(cfg: &Config, home: &Path, req: &TrainRequest, ctx: &RunCtx) -> Result<TrainOutcome> {
    let seed = req.seed.unwrap_or(cfg.seed);
    let folds = req.folds.unwrap_or(cfg.search.folds);
    let iters = req.search_iters.unwrap_or(cfg.search.iterations);
    let imbalance = req
        .imbalance
        .clone()
        .unwrap_or_else(|| cfg.imbalance.clone());

    let (files, hashes) = ctx.stage("load", None, || {
        let (files, hashes): (Vec<load::RawFile>, Vec<String>) = req
            .data
            .iter()
            .map(|p| load::read_file_hashed(p))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let n = files.iter().map(|f| f.rows()).sum();
        Ok((
            (files, hashes),
            Some(n),
            format!("{n} rows from {} file(s)", req.data.len()),
        ))
    })?;
    let rows_read = files.iter().map(|f| f.rows()).sum();
    let data_records: Vec<DataFileRecord> = req
        .data
        .iter()
        .zip(files.iter().zip(hashes))
        .map(|(p, (f, sha256))| DataFileRecord {
            path: p.display().to_string(),
            sha256,
            rows: f.rows(),
        })
        .collect();

    let (data, data_warnings) = ctx.stage("contract", Some(rows_read), || {
        let c = contract::check(&cfg.schema, &files, contract::Mode::Training);
        if !c.file_violations.is_empty() {
            return Err(ClaimsError::Contract(c.file_violations));
        }
        if !c.row_violations.is_empty() {
            return Err(ClaimsError::Contract(crate::data::rows::with_lines(
                c.row_violations,
            )));
        }
        // A row repeated in two files (a month appended to history, then given again) would
        // sit in training and test at once: refused. Copies within one file are dropped.
        let (data, dups) = crate::data::fingerprint::training_rows(c.data)?;
        let conflicts = &dups.label_conflicts;
        // Rows dropped and labelling problems: warnings of the run's result (text, --json).
        let mut warnings: Vec<String> = vec![];
        let note = if dups.within_files.is_empty() {
            "all rows pass the contract".to_string()
        } else {
            let n = dups.within_files.len();
            warnings.push(format!("{n} row(s) repeat an earlier row of the same file: dropped, so no row is in two splits"));
            warnings.extend(conflicts.first().map(|(file, first, copy)| {
                format!("{} repeated row(s) have a different label from the row they repeat (first: {file} row {copy} repeats row {first}): only the first row's label is learned; check how the file was labelled", conflicts.len())
            }));
            warnings.iter().for_each(|w| tracing::warn!(target: super::RESULT_WARNING, "{w}"));
            let conflicting = match conflicts.len() {
                0 => String::new(),
                k => format!(", {k} of them with the other label"),
            };
            format!("all rows pass the contract; {n} repeated row(s) dropped (same values as an earlier row of the file{conflicting})")
        };
        warnings.extend(data.constant_features());
        let n = data.len();
        Ok(((data, warnings), Some(n), note))
    })?;
    drop(files);
    let y = data.label_vec().ok_or_else(|| {
        ClaimsError::Other(anyhow::anyhow!("labels missing after the contract check"))
    })?;
    if let Some(e) = violations_for_labels(&data.files, &y, folds) {
        return Err(e);
    }

    let (tr, va, te) = ctx.stage("split", Some(data.len()), || {
        let (tr, va, te) = split::checked_splits(&y, cfg.split.validation, cfg.split.test, seed)?;
        let note = format!(
            "train {} / validation {} / test {} (stratified, seed {seed})",
            tr.len(),
            va.len(),
            te.len()
        );
        Ok(((tr, va, te), Some(data.len()), note))
    })?;

    let (pre, x_tr, x_va, x_te) = ctx.stage("preprocess", Some(data.len()), || {
        let train_set = data.subset(&tr);
        let pre = Preprocessor::fit(&train_set);
        let x_tr = pre.transform(&train_set)?;
        let x_va = pre.transform(&data.subset(&va))?;
        let x_te = pre.transform(&data.subset(&te))?;
        Ok((
            (pre, x_tr, x_va, x_te),
            Some(data.len()),
            "category maps fitted on the training split".into(),
        ))
    })?;
    let names = pre.feature_names();
    let kinds = pre.feature_kinds();
    let y_tr: Vec<u8> = tr.iter().map(|&i| y[i]).collect();
    let y_va: Vec<u8> = va.iter().map(|&i| y[i]).collect();
    let y_te: Vec<u8> = te.iter().map(|&i| y[i]).collect();

    // Imbalance: weighting is a parameter; undersampling drops majority rows of the rows a
    // model is fitted on (never held-out rows).
    let train_local: Vec<usize> = (0..tr.len()).collect();
    let (fit_rows, spw) = ctx.stage("imbalance", Some(tr.len()), || {
        let pos = y_tr.iter().filter(|&&v| v == 1).count() as f64;
        let neg = y_tr.len() as f64 - pos;
        let (rows, spw, note) = match &imbalance {
            Imbalance::None => (train_local.clone(), None, "none".to_string()),
            Imbalance::Weight(w) => {
                let w = w.unwrap_or(neg / pos);
                (
                    train_local.clone(),
                    Some(w),
                    format!("scale_pos_weight = {w:.4}"),
                )
            }
            Imbalance::Undersample(r) => {
                let (rows, note) = split::undersample_noted(&y_tr, &train_local, *r, seed)?;
                (rows, None, note)
            }
        };
        let n = rows.len();
        Ok(((rows, spw), Some(n), note))
    })?;

    // The log-odds undersampling added, to remove from the final model's scores: keeping a
    // share `kept` of the negatives multiplies the odds of a claim by 1/kept. (Weighting is
    // left alone: the textbook odds / w made the seed data's test log loss and ECE worse,
    // 0.188 -> 0.196 and 0.028 -> 0.030, as early stopping on unweighted validation rows
    // already holds the scores near the real rate.)
    let prior_offset = if !cfg.correct_probabilities {
        0.0
    } else {
        match &imbalance {
            Imbalance::None | Imbalance::Weight(_) => 0.0,
            Imbalance::Undersample(_) => {
                let negatives = |rows: &mut dyn Iterator<Item = usize>| {
                    rows.filter(|&i| y_tr[i] == 0).count() as f64
                };
                let kept = negatives(&mut fit_rows.iter().copied());
                let all = negatives(&mut (0..y_tr.len()));
                if kept > 0.0 && all > 0.0 {
                    (kept / all).ln()
                } else {
                    0.0
                }
            }
        }
    };
    let base = FitSettings {
        // Replaced by each candidate's parameters; drawn from the run's seed all the same.
        params: Hyperparams::sample(
            &cfg.search.space,
            &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed),
        ),
        scale_pos_weight: spw,
        threads: cfg.threads.per_fit,
        seed,
        metric: cfg.search.metric.clone(),
        early_stopping_rounds: cfg.search.early_stopping_rounds,
        // Every fit early-stops on natural-prevalence rows (held-out folds, validation)
        // for the scores served: undersampling's log-odds taken back out.
        held_out_offset: prior_offset as f32,
    };

    let (candidates, search_summary) = ctx.stage("search", Some(tr.len()), || {
        let mut cv_folds = split::k_folds(&y_tr, &train_local, folds, seed);
        if let Imbalance::Undersample(r) = imbalance {
            for (k, (fit_part, _)) in cv_folds.iter_mut().enumerate() {
                *fit_part = split::undersample(&y_tr, fit_part, r, seed.wrapping_add(k as u64));
            }
        }
        let strategy = cfg.search.strategy;
        // Large data under halving: a first rung on a stratified share of fold 1's fit rows.
        let sample = match strategy {
            SearchStrategy::Halving { factor } if cfg.search.sample_rung_min_rows > 0 => {
                let fit_rows = &cv_folds[0].0;
                (fit_rows.len() / factor >= cfg.search.sample_rung_min_rows)
                    .then(|| split::stratified_share(&y_tr, fit_rows, factor, seed))
            }
            _ => None,
        };
        let sd = SearchData {
            x: &x_tr,
            y: &y_tr,
            names: &names,
            kinds: &kinds,
            folds: &cv_folds,
            sample: sample.as_deref(),
        };
        let draws = search::draw_candidates(&cfg.search.space, iters, seed);
        let workers = cfg.threads.fits();
        let summary = SearchSummary::new(
            strategy,
            draws.len(),
            folds,
            sample.as_ref().map(Vec::len),
            workers,
        );
        ctx.emit("search", None, summary.describe());
        let best_so_far = std::sync::Mutex::new(f64::NAN);
        let on_fit = |g: &search::Progress| {
            let best = best_so_far
                .lock()
                .map(|mut b| {
                    if let Some(c) = g.completed {
                        *b = if b.is_nan() { c.mean_auc } else { b.max(c.mean_auc) };
                    }
                    *b
                })
                .unwrap_or(f64::NAN);
            let msg = g.describe(folds, best);
            ctx.emit(
                "search",
                Some(g.fits_done as f64 / g.fits_total.max(1) as f64),
                msg,
            );
        };
        let cancel = ctx.cancel_flag();
        let cancelled = move || cancel.load(std::sync::atomic::Ordering::Relaxed);
        let res = search::run(&sd, &draws, &base, strategy, workers, &on_fit, &cancelled)?;
        let best = search::best(&res, folds).map_or(f64::NAN, |b| b.mean_auc);
        let finalists = res.iter().filter(|c| c.folds_run == folds).count();
        Ok((
            (res, summary.clone()),
            Some(tr.len()),
            format!(
                "{} on {workers} worker(s); best CV AUC {best:.4} (of {finalists} candidate(s) with all {folds} folds)",
                summary.describe()
            ),
        ))
    })?;
    let chosen = search::best(&candidates, folds).cloned().ok_or_else(|| {
        ClaimsError::Other(anyhow::anyhow!(
            "search produced no candidate with all {folds} folds"
        ))
    })?;

    // The refit runs alone, so it gets every thread the search's fits had (XGBoost's hist
    // builds the same trees whatever the thread count; measured: identical predictions with
    // 1 and 2 threads, 1.8x faster with 2).
    let settings = FitSettings {
        params: chosen.params.clone(),
        threads: cfg.threads.per_fit * cfg.threads.fits(),
        ..base
    };
    let (booster, best_iteration, rounds_run, p_va) = ctx.stage("fit", Some(fit_rows.len()), || {
        let dtrain = crate::model::fit::matrix(&x_tr, &y_tr, &names, &kinds, &fit_rows, settings.threads)?;
        let yv: Vec<f32> = y_va.iter().map(|&v| f32::from(v)).collect();
        let mut dval = xgb::DMatrix::from_dense(&x_va, va.len(), &names, &kinds)?;
        dval.set_labels(&yv)?;
        let cancel = ctx.cancel_flag();
        let rows = HeldOutRows { x: &x_va, y: &y_va };
        let mut f = fit(&dtrain, &dval, Some(rows), &settings, &move || {
            cancel.load(std::sync::atomic::Ordering::Relaxed)
        })?;
        f.booster.set_features(&names, &kinds)?;
        // Resampling or weighting inflates the odds of a claim by a known factor: take it
        // back out of the base score, so scores are probabilities at the real claim rate
        // (ranking, and so ROC AUC, unchanged; the threshold is then chosen on them).
        if prior_offset != 0.0 {
            let (b, base) = f.booster.with_shifted_base_margin(prior_offset)?;
            f.booster = b;
            f.booster.set_param("nthread", &settings.threads.to_string())?;
            f.booster.set_features(&names, &kinds)?;
            tracing::info!("prior correction: log-odds {prior_offset:+.4} (base score now {base:.6})");
        }
        let p_va: Vec<f64> = f
            .booster
            .predict(&dval)?
            .into_iter()
            .map(f64::from)
            .collect();
        let note = format!(
            "best round {} of {} (early stopping on validation, {})",
            f.best_iteration + 1,
            f.rounds_run,
            settings.metric
        );
        if f.rounds_run >= settings.params.n_estimators && f.best_iteration + 1 == f.rounds_run {
            tracing::warn!(
                "the final fit's best round is its last ({} of {}): more rounds would likely help (raise search.space.n_estimators, or the learning rate)",
                f.best_iteration + 1,
                f.rounds_run
            );
        }
        Ok((
            (f.booster, f.best_iteration, f.rounds_run, p_va),
            Some(fit_rows.len()),
            note,
        ))
    })?;

    let threshold = ctx.stage("threshold", Some(va.len()), || {
        let t = &cfg.threshold;
        let (thr, note) = if t.rule == "cost" {
            let (thr, cost) = crate::eval::metrics::cost_optimal_threshold(
                &y_va,
                &p_va,
                t.cost_false_negative,
                t.cost_false_positive,
            );
            let note = format!(
                "{thr:.4} (lowest expected cost on validation: {cost:.4} per application, missed claim {} : review {})",
                t.cost_false_negative, t.cost_false_positive
            );
            (thr, note)
        } else {
            let (thr, f1) = crate::eval::metrics::f1_optimal_threshold(&y_va, &p_va);
            (thr, format!("{thr:.4} (F1 {f1:.4} on validation)"))
        };
        Ok((thr, Some(va.len()), note))
    })?;
    let threshold_rule = if cfg.threshold.rule == "cost" {
        format!(
            "lowest expected cost on validation, missed claim {} : review {}",
            cfg.threshold.cost_false_negative, cfg.threshold.cost_false_positive
        )
    } else {
        "F1-optimal on validation".to_string()
    };

    let (test_eval, val_eval, importance, p_tr, p_te) =
        ctx.stage("evaluate", Some(te.len()), || {
            let dtest = xgb::DMatrix::from_dense(&x_te, te.len(), &names, &kinds)?;
            let p_te: Vec<f64> = booster
                .predict(&dtest)?
                .into_iter()
                .map(f64::from)
                .collect();
            let test_eval = evaluate(&y_te, &p_te, threshold);
            let val_eval = evaluate(&y_va, &p_va, threshold);
            let dtr = xgb::DMatrix::from_dense(&x_tr, tr.len(), &names, &kinds)?;
            let p_tr: Vec<f64> = booster.predict(&dtr)?.into_iter().map(f64::from).collect();
            let mut importance = booster.feature_scores("gain")?;
            importance.sort_by(|a, b| b.1.total_cmp(&a.1));
            let note = format!(
                "test ROC AUC {:.4} on {} rows (scored once)",
                test_eval.roc_auc,
                te.len()
            );
            Ok((
                (test_eval, val_eval, importance, p_tr, p_te),
                Some(te.len()),
                note,
            ))
        })?;

    let (version, role, dir, replaced_challenger) = ctx.stage("register", None, || {
        let mut reg = Registry::open(home)?;
        let model_json = booster.to_json()?;
        let xgb_config = booster.config_json()?;
        let (a, b, c) = xgb::library_version();
        let json = |v: &serde_json::Value| {
            serde_json::to_vec_pretty(v).map_err(|e| ClaimsError::Other(e.into()))
        };
        let params = serde_json::json!({
            "hyperparams": settings.params,
            "rounds": best_iteration + 1,
            "sent_to_xgboost": settings.xgb_params(),
            "xgboost_config": xgb_config,
            "imbalance": imbalance.label(),
            "scale_pos_weight": spw,
            "prior_correction_log_odds": prior_offset,
            "threshold": threshold,
            "threshold_rule": if cfg.threshold.rule == "cost" { "cost_optimal_on_validation" } else { "f1_optimal_on_validation" },
            "threshold_rule_text": threshold_rule.clone(),
        });
        let metrics = serde_json::json!({
            "test": test_eval,
            "validation": val_eval,
            "cv": {
                "chosen": chosen,
                "folds": folds,
                "search": search_summary,
                "candidates": candidates,
            },
            "feature_importance_gain": importance,
        });
        let train_set = data.subset(&tr);
        let prof = profile::profile(&train_set, &p_tr);
        // The version register() will give (MAX + 1; the train lock keeps it ours).
        let next = reg.list()?.iter().map(|m| m.version).max().unwrap_or(0) + 1;
        let charts = model_report(
            home,
            &ctx.run_id,
            next,
            &params,
            &test_eval,
            (&y_te, &p_te),
            threshold,
            &importance,
        )?;
        let mut files = vec![
            ("model.json", model_json),
            (
                "preprocessor.json",
                json(&serde_json::to_value(&pre).map_err(|e| ClaimsError::Other(e.into()))?)?,
            ),
            ("params.json", json(&params)?),
            ("metrics.json", json(&metrics)?),
            (
                "profile.json",
                json(&serde_json::to_value(&prof).map_err(|e| ClaimsError::Other(e.into()))?)?,
            ),
        ];
        files.extend(charts.iter().map(|(n, b)| (n.as_str(), b.clone())));
        // What this model learned from, by content: a later comparison leaves these rows out.
        let seen = tr.iter().chain(&va).copied();
        files.extend(crate::data::fingerprint::seen_files(&data, seen));
        // Test-split labels and scores: the console moves the threshold over them live.
        files.push(("test_scores.json", json(&serde_json::json!({ "y": y_te, "p": p_te }))?));
        let manifest = Manifest {
            version: 0,
            created_at: String::new(),
            run_id: ctx.run_id.clone(),
            code_version: code_version(),
            xgboost_version: format!("{a}.{b}.{c}"),
            seed,
            config_toml: effective_toml(cfg, seed, folds, iters, &imbalance),
            data_files: data_records.clone(),
            files: Default::default(),
            champion_at_training: None, // set by the registry, in the registering transaction
            split_version: split::SPLIT_VERSION,
        };
        let previous_challenger = reg.alias("challenger")?;
        let (v, role) = reg.register(
            manifest,
            &files,
            test_eval.roc_auc,
            &registered_label(&imbalance, spw),
            threshold)?;
        let dir = reg.model_dir(v).display().to_string();
        let replaced = previous_challenger.filter(|&p| role == "challenger" && p != v);
        let also = replaced.map_or(String::new(), |p| {
            format!(" (replaces v{p}, which keeps no alias)")
        });
        Ok((
            (v, role.clone(), dir, replaced),
            None,
            format!("model v{v} registered as {role}{also}"),
        ))
    })?;

    // The model is registered: a stop request from here lets the gate run, so no
    // challenger is left behind that the gate never judged.
    ctx.committed();
    // The promotion gate, after every retrain that produced a challenger. A comparison
    // that cannot be made (too few new held-out rows, say) is a refusal with its reason,
    // not a failed training run: the model is registered either way.
    let mut model_warnings =
        super::train_report::quality_warnings(&test_eval, cfg.gate.min_class_rows);
    // The model is registered: this check's failure must not keep it from the gate.
    let same = Registry::open(home).and_then(|r| r.identical_to(version));
    model_warnings.extend(same.unwrap_or_default().first().map(|o| {
        format!("identical to v{o} (the same model and preprocessing files and threshold): this training changed nothing")
    }));
    model_warnings
        .iter()
        .for_each(|w| tracing::warn!(target: super::RESULT_WARNING, "model v{version}: {w}"));
    let warnings: Vec<String> = data_warnings.into_iter().chain(model_warnings).collect();
    let mut role = role;
    let gate = if role == "challenger" {
        Some(ctx.stage("gate", None, || gate::run(ctx, cfg, home, version))?)
    } else {
        None
    };
    if gate.as_ref().is_some_and(|g| g.promoted) {
        role = "champion".into();
    }

    Ok(TrainOutcome {
        run_id: ctx.run_id.clone(),
        model_version: version,
        role,
        gate,
        model_dir: dir,
        validation_roc_auc: val_eval.roc_auc,
        test: test_eval,
        cv_roc_auc: chosen.mean_auc,
        search: search_summary,
        params: chosen.params.clone(),
        rounds: best_iteration + 1,
        rounds_run,
        threshold,
        threshold_rule,
        imbalance: registered_label(&imbalance, spw),
        scale_pos_weight: spw,
        rows_read,
        split_rows: [fit_rows.len(), va.len(), te.len()],
        top_features: importance.into_iter().take(10).collect(),
        replaced_challenger,
        warnings,
    })
}
