//! The headless front: runs a command's pipeline call, prints progress (a bar on a TTY,
//! JSON lines otherwise, both on stderr) and returns the human summary and the JSON
//! summary that `main` prints on stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde_json::json;

mod backfill;
mod home;
pub mod logline;
mod ops;
mod records;
pub mod signals;
mod text;

/// What a headless run does on a first SIGINT/SIGTERM.
const STOPPING: &str = "finishing the current step, then recording the run as cancelled (a run whose rows are written or model registered finishes instead)";

pub use home::{refuse_missing_home, setup_args};
use text::{compare_text, predict_text, train_text};
pub use text::{reasons_text, score_lines};

use crate::cli::Command;
use crate::config::{Config, Imbalance};
use crate::data::generate::{GenSpec, write_csv};
use crate::error::{ClaimsError, Result};
use crate::pipeline::PipelineEvent;
use crate::pipeline::compare;
use crate::pipeline::infer::{PredictRequest, parse_date, predict, read_drift, today};
use crate::pipeline::train::{TrainOutcome, TrainRequest, train};
use crate::registry::Registry;

/// What a command prints: human text, then (with `--json`) one JSON object.
pub struct Output {
    /// Human-readable result.
    pub text: String,
    /// Machine-readable summary.
    pub json: serde_json::Value,
    /// An error to exit with after printing (e.g. a drift alert with --fail-on-drift).
    pub then_fail: Option<ClaimsError>,
}

impl Output {
    fn ok(text: String, json: serde_json::Value) -> Self {
        Output {
            text,
            json,
            then_fail: None,
        }
    }
}

/// Whether stderr carries JSON log lines (`--log-format json`): progress goes there too.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sends progress through the JSON log instead of printing it in its own shape.
pub fn progress_as_json_logs() {
    JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Prints pipeline events until the channel closes.
fn spawn_printer(rx: mpsc::Receiver<PipelineEvent>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let tty = std::io::stderr().is_terminal();
        let mut bar: Option<indicatif::ProgressBar> = None;
        for ev in rx {
            let ev = if ev.stage == "failed" {
                // The error follows in full ("error: ..."); here only its first line.
                let first = ev.message.lines().next().unwrap_or("").to_string();
                PipelineEvent {
                    message: first,
                    ..ev
                }
            } else {
                ev
            };
            if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                // One shape on stderr: progress as log lines like the rest. A stage's end
                // is already a log line (with its row counts and duration).
                if ev.progress == Some(1.0) {
                    continue;
                }
                match ev.progress {
                    Some(p) => {
                        tracing::info!(target: "claims::progress", run_id = %ev.run_id, stage = %ev.stage, progress = p, "{}", ev.message)
                    }
                    None => {
                        tracing::info!(target: "claims::progress", run_id = %ev.run_id, stage = %ev.stage, "{}", ev.message)
                    }
                }
                continue;
            }
            if ev.stage == "failed" {
                if !tty && let Ok(s) = serde_json::to_string(&ev) {
                    crate::say!("{s}");
                }
                continue;
            }
            if !tty {
                if let Ok(s) = serde_json::to_string(&ev) {
                    crate::say!("{s}");
                }
                continue;
            }
            match (ev.stage.as_str(), ev.progress) {
                ("search", Some(p))
                    if p > 0.0 && p < 1.0
                        || (ev.stage == "search" && ev.message.starts_with("candidate")) =>
                {
                    let b = bar.get_or_insert_with(|| {
                        let b = indicatif::ProgressBar::new(1000);
                        if let Ok(style) = indicatif::ProgressStyle::with_template(
                            "  search [{bar:30}] {percent:>3}% {elapsed_precise} {msg}",
                        ) {
                            b.set_style(style.progress_chars("=> "));
                        }
                        b
                    });
                    b.set_position((p * 1000.0) as u64);
                    b.set_message(ev.message.clone());
                }
                (_, Some(p)) if p >= 1.0 => {
                    if let Some(b) = bar.take() {
                        b.finish_and_clear();
                    }
                    crate::say!("  ok {}", ev.message);
                }
                (_, None) => crate::say!("  {}: {}", ev.stage, ev.message),
                _ => {}
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}

/// Resolves the home folder: `--home`, `CLAIMS_HOME`, or the platform data folder.
pub fn resolve_home(home: Option<PathBuf>) -> Result<PathBuf> {
    match home {
        // A file where the home folder should be (a data file given to --home by mistake).
        Some(h) if h.exists() && !h.is_dir() => Err(ClaimsError::Usage(format!(
            "home '{}' (--home or CLAIMS_HOME) is a file, not a folder",
            h.display()
        ))),
        // Absolute, so summaries, run records and generated units name the same folder
        // from anywhere.
        Some(h) => Ok(crate::pipeline::absolute(&h)),
        None => directories::ProjectDirs::from("", "", "claims-ops")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or_else(|| {
                ClaimsError::Usage("no home folder: pass --home DIR or set CLAIMS_HOME".into())
            }),
    }
}

fn train_json(o: &TrainOutcome) -> serde_json::Value {
    json!({
        "command": "train",
        "run_id": o.run_id,
        "model_version": o.model_version,
        "role": o.role,
        "model_dir": o.model_dir,
        "threshold": o.threshold,
        "rounds": o.rounds,
        "params": o.params,
        "cv_roc_auc": o.cv_roc_auc,
        "imbalance": o.imbalance,
        "scale_pos_weight": o.scale_pos_weight,
        "split_rows": o.split_rows,
        "search": o.search,
        "validation_roc_auc": o.validation_roc_auc,
        "test": o.test,
        "gate": o.gate,
        "replaced_challenger": o.replaced_challenger,
        "warnings": o.warnings,
    })
}

fn run_train(cfg: &Config, home: &Path, req: TrainRequest) -> Result<TrainOutcome> {
    let (tx, rx) = mpsc::channel();
    let printer = spawn_printer(rx);
    let out = train(cfg, home, &req, Some(tx), signals::stop_flag(STOPPING));
    let _ = printer.join();
    if let Err(e) = &out {
        ops::hook(&cfg.hooks, "train", e, home, None);
    }
    out
}

/// Runs one command.
pub fn run(cmd: Command, cfg: &Config, home: &Path) -> Result<Output> {
    match cmd {
        Command::Generate {
            rows,
            seed,
            out,
            positive_rate,
            shift,
            label_noise,
            no_label,
            id_offset,
        } => {
            let spec = GenSpec {
                rows,
                seed,
                positive_rate,
                shift,
                label_noise,
                with_labels: !no_label,
                // Different seeds, different ids: a labels file of one run of `generate`
                // must not match the predictions of another.
                id_offset: id_offset.unwrap_or((seed % 1000) as usize * 1_000_000),
                ..GenSpec::default()
            };
            write_csv(&spec, &out)?;
            Ok(Output::ok(
                format!("wrote {rows} applications to {}", out.display()),
                json!({"command": "generate", "rows": rows, "seed": seed, "out": out, "shift": shift}),
            ))
        }
        Command::Train {
            data,
            search_iters,
            folds,
            imbalance,
            seed,
        } => {
            // "undersample" alone takes the config's imbalance.undersample_ratio.
            let imbalance = match imbalance.as_deref() {
                Some("undersample") => Some(Imbalance::Undersample(cfg.undersample_ratio)),
                other => other.map(Imbalance::parse).transpose()?,
            };
            let o = run_train(
                cfg,
                home,
                TrainRequest {
                    data,
                    search_iters,
                    folds,
                    imbalance,
                    seed,
                },
            )?;
            Ok(Output {
                then_fail: None,
                text: train_text(&o),
                json: train_json(&o),
            })
        }
        Command::Demo => demo(cfg, home),
        Command::Predict {
            data,
            date,
            sink,
            fail_on_drift,
            from,
            to,
            input_pattern,
            force,
        } => {
            if let (Some(from), Some(to), Some(pattern)) = (from, to, input_pattern) {
                let opts = backfill::BackfillOptions {
                    force,
                    fail_on_drift,
                };
                return backfill::backfill(cfg, home, &from, &to, &pattern, sink, opts);
            }
            let data = data.ok_or_else(|| {
                ClaimsError::Usage(
                    "predict needs --data FILE (or --from/--to/--input-pattern)".into(),
                )
            })?;
            let (tx, rx) = mpsc::channel();
            let printer = spawn_printer(rx);
            let req = PredictRequest {
                data,
                date,
                sink,
                replace: force,
            };
            let o = predict(cfg, home, &req, Some(tx), signals::stop_flag(STOPPING));
            let _ = printer.join();
            let o = match o {
                Ok(o) => o,
                Err(e) => {
                    // The business date it was for (given, or today's as predict takes it).
                    let day = req
                        .date
                        .clone()
                        .or_else(|| crate::pipeline::infer::today(&cfg.inference.timezone).ok());
                    ops::hook(&cfg.hooks, "predict", &e, home, day.as_deref());
                    return Err(e);
                }
            };
            let mut out = Output::ok(predict_text(&o), json!({"command": "predict", "result": o}));
            if !o.drift_alerts.is_empty() {
                crate::schedule::units::run_alert_hook(&cfg.hooks, &out.json["result"], home);
            }
            if fail_on_drift && !o.drift_alerts.is_empty() {
                let conn = crate::registry::db::open(&home.join("claims.db"))?;
                crate::registry::runs::set_exit_code(&conn, &o.run_id, crate::error::EXIT_DRIFT)?;
                out.then_fail = Some(ClaimsError::Drift(format!(
                    "{} on {} (the day's predictions are written; exit 5 is --fail-on-drift's signal, `claims drift --date {}` shows the table)",
                    o.drift_alerts.join(", "),
                    o.business_date,
                    o.business_date
                )));
            }
            Ok(out)
        }
        Command::Schedule { action } => ops::schedule(action, cfg, home),
        Command::Tui => Err(ClaimsError::Usage("the console is started by main".into())),
        Command::Compare {
            champion,
            challenger,
        } => {
            let reg = Registry::open(home)?;
            let (ch, cl) = compare::resolve(&reg, champion, challenger)?;
            let c = compare::compare(&reg, ch, cl, &cfg.gate)?;
            // A home this user can only read (see `db::open`) still gets the comparison.
            let report = if reg.read_only() {
                None
            } else {
                let dir = compare::report_dir(home, &format!("compare-v{ch}-v{cl}"));
                let report = compare::write_report(&reg, &dir, &c)?;
                compare::record_decision(&reg, None, &c, Some(&report))?;
                Some(report)
            };
            let mut j = serde_json::to_value(&c).map_err(|e| ClaimsError::Other(e.into()))?;
            j["command"] = json!("compare");
            j["report"] = json!(report);
            Ok(Output::ok(compare_text(&c, report.as_deref()), j))
        }
        Command::Promote { version, reason } => {
            let mut reg = Registry::open(home)?;
            let (from, reason) = compare::promote_audited(&mut reg, version, reason, &cfg.gate)?;
            let text = format!(
                "champion: {} -> v{version} (by {}, reason: {reason})",
                from.map_or("none".into(), |v| format!("v{v}")),
                crate::registry::current_user()
            );
            Ok(Output::ok(
                text,
                json!({"command": "promote", "from": from, "to": version, "reason": reason}),
            ))
        }
        Command::Rollback { reason } => {
            let mut reg = Registry::open(home)?;
            let (from, to) = compare::rollback(&mut reg, &reason)?;
            let text = format!(
                "champion rolled back: v{from} -> v{to} (by {}, reason: {reason})",
                crate::registry::current_user()
            );
            Ok(Output::ok(
                text,
                json!({"command": "rollback", "from": from, "to": to, "reason": reason}),
            ))
        }
        Command::Explain { id, date, sink } => {
            let url = sink.unwrap_or_else(|| cfg.inference.sink.clone());
            let date = date.map(|d| parse_date(&d)).transpose()?;
            records::explain(home, &url, &id, date.as_deref())
        }
        Command::Feedback { data, sink } => {
            let url = sink.unwrap_or_else(|| cfg.inference.sink.clone());
            let id = cfg
                .schema
                .id_column
                .clone()
                .unwrap_or_else(|| "application_id".into());
            let o =
                crate::pipeline::feedback::feedback(home, &data, &url, &id, &cfg.schema.target)?;
            let mut text = format!(
                "{} labels read, {} without a stored champion prediction\n",
                o.labels, o.unmatched
            );
            if o.labels > 0 && o.unmatched == o.labels {
                text.push_str(&format!(
                    "warning: none of these ids has a stored champion prediction in {url}: is this the home and sink that scored them (--home, --sink)? (the labels are kept in this home: the next `claims feedback` measures the dates they match once those are scored)\n",
                    url = if url.is_empty() { format!("{}", home.join("claims.db").display()) } else { crate::sink::postgres::redact(&url) }
                ));
            }
            if o.on_several_dates > 0 {
                text.push_str(&format!(
                    "warning: {} of these ids have predictions on more than one business date (the same application scored on several days, or ids reused across files); each of those dates counts the label\n",
                    o.on_several_dates
                ));
            }
            text.push_str("realised performance over time (all recorded dates):\n");
            text.push_str(&format!(
                "{:<12} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}\n",
                "date", "model", "rows", "claims", "ROC AUC", "PR AUC", "logloss", "Brier"
            ));
            // A metric a date's labels cannot give (one class only) shows as "-".
            let num = |v: f64| {
                if v.is_finite() {
                    format!("{v:.4}")
                } else {
                    "-".into()
                }
            };
            let history = crate::pipeline::feedback::history(home)?;
            for r in &history {
                text.push_str(&format!(
                    "{:<12} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}\n",
                    r.business_date,
                    format!("v{}", r.model_version),
                    r.rows,
                    r.positives,
                    num(r.roc_auc),
                    num(r.pr_auc),
                    num(r.log_loss),
                    num(r.brier)
                ));
            }
            Ok(Output::ok(
                text,
                json!({"command": "feedback", "result": o, "history": history}),
            ))
        }
        Command::Drift {
            date,
            fail_on_drift,
        } => {
            let given = date.is_some();
            let date = match date {
                Some(d) => parse_date(&d)?,
                None => today(&cfg.inference.timezone)?,
            };
            let rows = read_drift(home, &date)?;
            if rows.is_empty() {
                let today = if given {
                    String::new()
                } else {
                    format!(
                        " (today in {}; --date picks another)",
                        cfg.inference.timezone
                    )
                };
                let latest = match crate::pipeline::infer::latest_drift_date(home)? {
                    Some(l) => {
                        format!("; the latest date with drift is {l}: `claims drift --date {l}`")
                    }
                    None => String::new(),
                };
                return Err(ClaimsError::Usage(format!(
                    "no drift recorded for {date}{today} ({}){latest}",
                    home::no_drift_hint(home, &date)
                )));
            }
            let text = text::drift_table(&date, &rows);
            let alerts: Vec<String> = rows
                .iter()
                .filter(|r| r.level == "alert")
                .map(|r| r.feature.clone())
                .collect();
            let mut out = Output::ok(
                text,
                json!({"command": "drift", "date": date, "rows": rows, "alerts": alerts}),
            );
            if fail_on_drift && !alerts.is_empty() {
                out.then_fail = Some(ClaimsError::Drift(format!(
                    "{} on {date}",
                    alerts.join(", ")
                )));
            }
            Ok(out)
        }
        Command::Models { verify } => records::models(home, verify),
        Command::Runs { run_id, limit } => records::runs(home, run_id, limit as usize),
        Command::ConfigPath => Ok(config_path()),
    }
}

/// Where the user config file is read from (needs no valid config: it is how a user finds
/// the file to fix).
pub fn config_path() -> Output {
    let p = crate::config::user_config_path();
    let text = match &p {
        Some(p) => format!(
            "{} ({})",
            p.display(),
            if p.is_file() {
                "present"
            } else {
                "not present: defaults apply"
            }
        ),
        None => "this platform has no config folder; use --config".into(),
    };
    Output {
        then_fail: None,
        text,
        json: json!({"command": "config-path", "path": p}),
    }
}

/// The sample shipped in `assets/` (made by `claims generate --rows 3000 --seed 7`).
const SAMPLE: &str = include_str!("../../assets/sample_applications.csv");

fn demo(cfg: &Config, home: &Path) -> Result<Output> {
    // The demo trains, promotes and scores today's date: on a home in use it would replace
    // the champion and that day's predictions with its sample's.
    if home.join("claims.db").exists() {
        let versions = crate::registry::Registry::open(home)?.list()?.len();
        if versions > 0 {
            return Err(ClaimsError::Usage(format!(
                "demo: home '{}' already has {versions} model version(s); the demo promotes its own model and replaces today's predictions, so it runs only on a new home (e.g. claims --home /tmp/claims-demo demo)",
                home.display()
            )));
        }
    }
    std::fs::create_dir_all(home).map_err(|e| ClaimsError::io(home, e))?;
    let data = home.join("demo").join("sample_applications.csv");
    if let Some(d) = data.parent() {
        std::fs::create_dir_all(d).map_err(|e| ClaimsError::io(d, e))?;
    }
    std::fs::write(&data, SAMPLE).map_err(|e| ClaimsError::io(&data, e))?;
    crate::say!(
        "demo: training on {} (shipped sample, 3000 rows)",
        data.display()
    );
    let o = run_train(
        cfg,
        home,
        TrainRequest {
            data: vec![data.clone()],
            search_iters: Some(12),
            folds: Some(3),
            imbalance: None,
            seed: None,
        },
    )?;
    // One business day of new applications (made by the generator, no labels), scored by
    // the champion into the default SQLite table.
    let date = today(&cfg.inference.timezone)?;
    let day = home.join("demo").join(format!("applications_{date}.csv"));
    let spec = GenSpec {
        rows: 1000,
        seed: 8,
        with_labels: false,
        id_offset: 1_000_000,
        ..GenSpec::default()
    };
    write_csv(&spec, &day)?;
    crate::say!("demo: scoring {} for business date {date}", day.display());
    let (tx, rx) = mpsc::channel();
    let printer = spawn_printer(rx);
    let req = PredictRequest {
        data: day.clone(),
        date: Some(date.clone()),
        sink: None,
        replace: false,
    };
    let p = predict(cfg, home, &req, Some(tx), signals::stop_flag(STOPPING));
    let _ = printer.join();
    let p = p?;
    let mut text = train_text(&o);
    text.push('\n');
    text.push_str(&predict_text(&p));
    text.push_str(&format!(
        "\nwhere everything went:\n  home         {}\n  database     {} (tables predictions, quarantine, runs, models, drift)\n  model        {}\n  model report {}/report/report.html\n  training     {}\n  day scored   {}\n  log          {}\n\nnext: claims --home {} tui | claims --home {} runs {}\n",
        home.display(),
        home.join("claims.db").display(),
        o.model_dir,
        o.model_dir,
        data.display(),
        day.display(),
        home.join("logs").join("claims.log").display(),
        crate::shell_word(&home.display().to_string()),
        crate::shell_word(&home.display().to_string()),
        p.run_id
    ));
    let mut j = train_json(&o);
    j["command"] = json!("demo");
    j["home"] = json!(home.to_string_lossy());
    j["predict"] = json!(p);
    Ok(Output::ok(text, j))
}
