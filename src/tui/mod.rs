//! The operations console (ratatui + crossterm). A thin front over the same pipeline calls
//! as the headless CLI: jobs run on worker threads and report through the pipeline event
//! channel, so the UI never blocks; the state is polled from the shared database every
//! second, so runs started elsewhere (the scheduler, a cron job) show up live.

pub mod app;
pub mod data;
mod day;
mod jobs;
pub mod keys;
mod models;
pub mod panes;
mod remote;
mod state;
pub mod ui;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind,
};
use ratatui::crossterm::execute;

use crate::config::{Config, Imbalance};
use crate::error::{ClaimsError, Result};
use crate::pipeline::PipelineEvent;
use app::{App, Request, Trial};

/// Messages from worker threads to the UI.
pub enum Msg {
    /// Progress of a job.
    Event(PipelineEvent),
    /// A training job ended.
    Trained(std::result::Result<Trial, String>),
    /// A comparison ended.
    Compared(std::result::Result<Box<crate::pipeline::compare::Comparison>, String>),
    /// An alias move ended.
    Moved(String),
    /// An inference rerun ended.
    Scored(std::result::Result<String, String>),
}

/// Runs the console until the user quits; refuses (exit 2) when not on a terminal.
pub fn run(cfg: Config, home: PathBuf) -> Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(ClaimsError::Usage(
            "the console needs an interactive terminal (stdin and stdout are not a TTY); use the headless commands, see `claims --help`".into(),
        ));
    }
    let mut terminal = ratatui::init(); // also restores the terminal on panic
    crate::STDERR_IS_SCREEN.store(true, Ordering::Relaxed);
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, App::new(cfg, home));
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    crate::STDERR_IS_SCREEN.store(false, Ordering::Relaxed);
    result
}

struct Jobs {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    cancel: Arc<AtomicBool>,
    queued: Option<Request>,
    /// Threads that must not be cut off by quitting: promotions and rollbacks (which may
    /// wait on SQLite's busy timeout) and a scored day's alert hook.
    unfinished: Vec<std::thread::JoinHandle<()>>,
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, mut app: App) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut jobs = Jobs {
        tx,
        rx,
        cancel: Arc::new(AtomicBool::new(false)),
        queued: None,
        unfinished: vec![],
    };
    app.refresh();
    let mut last_poll = Instant::now();
    while !app.quit {
        terminal
            .draw(|f| ui::draw(f, &app))
            .map_err(|e| ClaimsError::io("terminal", e))?;
        if event::poll(Duration::from_millis(200)).map_err(|e| ClaimsError::io("terminal", e))? {
            match event::read().map_err(|e| ClaimsError::io("terminal", e))? {
                Event::Key(k) if k.kind == KeyEventKind::Press => {
                    if let Some(a) = app.action_for(k) {
                        app.apply(a);
                    }
                }
                Event::Mouse(m) => {
                    if let Some(a) = app.mouse_action(m) {
                        app.apply(a);
                    }
                }
                _ => {} // resize: the next draw uses the new size
            }
        }
        while let Ok(msg) = jobs.rx.try_recv() {
            handle(&mut app, &mut jobs, msg);
        }
        for req in std::mem::take(&mut app.requests) {
            start(&mut app, &mut jobs, req);
        }
        if last_poll.elapsed() >= Duration::from_secs(1) {
            app.refresh();
            last_poll = Instant::now();
        }
    }
    jobs.cancel.store(true, Ordering::SeqCst);
    if app.busy {
        // Quitting cancels the running job: let it stop at its next round and record
        // itself as cancelled, rather than leave a run "running" (or a model registered by
        // a run the user stopped).
        app.status = "stopping the running job (it records itself as cancelled)...".into();
        let _ = terminal.draw(|f| ui::draw(f, &app));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match jobs.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Msg::Trained(_)) | Ok(Msg::Scored(_)) => break,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    // A promotion waiting for the database, or an alert hook, finishes before the console
    // exits (within SQLite's busy timeout and the hook's own timeout).
    jobs.unfinished.retain(|h| !h.is_finished());
    if !jobs.unfinished.is_empty() {
        app.status = "finishing a promotion or an alert hook before quitting...".into();
        let _ = terminal.draw(|f| ui::draw(f, &app));
        let deadline = Instant::now() + Duration::from_secs(35) + app.cfg.hooks.timeout();
        while !jobs.unfinished.iter().all(|h| h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

fn handle(app: &mut App, jobs: &mut Jobs, msg: Msg) {
    match msg {
        Msg::Event(ev) => app.on_event(ev),
        Msg::Trained(r) => {
            app.on_trained(r);
            app.comparison = None;
            if let Some(next) = jobs.queued.take() {
                start(app, jobs, next);
            }
        }
        Msg::Compared(Ok(c)) => {
            app.comparing = false;
            app.status = format!(
                "v{} vs v{}: gate {}",
                c.champion,
                c.challenger,
                if c.decision.promote {
                    "passes"
                } else {
                    "refuses"
                }
            );
            app.comparison = Some(*c);
        }
        Msg::Compared(Err(e)) => {
            app.comparing = false;
            app.status = format!("comparison: {e}");
        }
        Msg::Scored(r) => {
            app.busy = false;
            app.live = None;
            app.status = r.unwrap_or_else(|e| format!("inference failed: {e}"));
            app.refresh();
            if let Some(next) = jobs.queued.take() {
                start(app, jobs, next);
            }
        }
        Msg::Moved(s) => {
            app.status = s;
            app.comparison = None;
            app.refresh();
        }
    }
}

/// A queued job as the status line names it.
fn queued_name(req: &Request) -> String {
    match req {
        Request::Train(_, label, _) => format!("training ({label})"),
        Request::Predict(_, date, ..) => format!("scoring {date}"),
        _ => "a job".into(),
    }
}

fn start(app: &mut App, jobs: &mut Jobs, req: Request) {
    let (cfg, home, tx) = (app.cfg.clone(), app.home.clone(), jobs.tx.clone());
    match req {
        Request::Cancel => jobs.cancel.store(true, Ordering::SeqCst),
        // One job at a time: a request while one runs waits, and the newest replaces a
        // queued one (said, so a replaced retrain is not lost without a word).
        Request::Train(..) | Request::Predict(..) if app.busy => {
            let replaced = jobs.queued.as_ref().map(queued_name);
            app.status = format!(
                "queued: {} starts when the running job ends{}",
                queued_name(&req),
                replaced.map_or(String::new(), |r| format!(" (it replaces the queued {r})"))
            );
            jobs.queued = Some(req);
        }
        Request::Train(req, label, cost_rule) => {
            app.busy = true;
            jobs.cancel = Arc::new(AtomicBool::new(false));
            let cancel = jobs.cancel.clone();
            std::thread::spawn(move || {
                let r = train_job(cfg, &home, req, &label, cost_rule, tx.clone(), cancel);
                let _ = tx.send(Msg::Trained(r));
            });
        }
        Request::Predict(data, date, sink, replace) => {
            app.busy = true;
            jobs.cancel = Arc::new(AtomicBool::new(false));
            let cancel = jobs.cancel.clone();
            jobs.unfinished.retain(|h| !h.is_finished());
            jobs.unfinished.push(std::thread::spawn(move || {
                let (etx, erx) = mpsc::channel::<PipelineEvent>();
                let fwd_tx = tx.clone();
                let forward = std::thread::spawn(move || {
                    for ev in erx {
                        if fwd_tx.send(Msg::Event(ev)).is_err() {
                            break;
                        }
                    }
                });
                let req = crate::pipeline::infer::PredictRequest {
                    data,
                    date: Some(date),
                    sink,
                    replace,
                };
                let r = crate::pipeline::infer::predict(&cfg, &home, &req, Some(etx), cancel);
                let _ = forward.join();
                let alert = r
                    .as_ref()
                    .ok()
                    .filter(|o| !o.drift_alerts.is_empty())
                    .map(|o| serde_json::to_value(o).unwrap_or_default());
                let _ = tx.send(Msg::Scored(
                    r.map(|o| {
                        let replaced = o.replaced.as_ref().map_or(String::new(), |p| {
                            let by = match p.model_version {
                                Some(v) if v != o.model_version => format!(" (scored by v{v})"),
                                _ => String::new(),
                            };
                            format!(", replacing the {} rows{by} of run {}", p.rows, p.run_id)
                        });
                        // A date that looks mistyped is said here too, not only in the
                        // log, and first: the one-line status cuts its end.
                        let warned: String =
                            o.warnings.iter().map(|w| format!("warning: {w}; ")).collect();
                        format!(
                            "{warned}{} scored for {} (run {}){replaced}",
                            o.rows_scored, o.business_date, o.run_id
                        )
                    })
                    .map_err(|e| {
                        let e = e.to_string();
                        // The CLI command in a refusal is not the console's way: r on the
                        // failed run asks whether to replace the date's rows.
                        match crate::pipeline::rerun::refused_for_date(&e) {
                            Some(holds) => format!(
                                "{holds} Nothing was written; r on this run in Runs offers to replace them"
                            ),
                            // On one line, the problem first (as the Runs list has it).
                            None => crate::registry::runs::error_gist(
                                &e,
                                None,
                                &[&crate::pipeline::absolute(&req.data).display().to_string()],
                            ),
                        }
                    }),
                ));
                // Drift alerts concern the day's data whoever scored it: the alert hook runs
                // as for a headless predict (after the screen is told, so it never waits).
                if let Some(summary) = alert {
                    crate::schedule::units::run_alert_hook(&cfg.hooks, &summary, &home);
                }
            }));
        }
        Request::Compare => {
            std::thread::spawn(move || {
                // A panic still answers, so `c` is not refused as "already running" for good.
                let compare = std::panic::AssertUnwindSafe(
                    || -> Result<crate::pipeline::compare::Comparison> {
                        let reg = crate::registry::Registry::open(&home)?;
                        let (a, b) = crate::pipeline::compare::resolve(&reg, None, None)?;
                        let c = crate::pipeline::compare::compare(&reg, a, b, &cfg.gate)?;
                        // Recorded as `claims compare` records it, so a promotion after it
                        // counts as compared (a home this user can only read keeps none).
                        if !reg.read_only() {
                            crate::pipeline::compare::record_decision(&reg, None, &c, None)?;
                        }
                        Ok(c)
                    },
                );
                let r = match std::panic::catch_unwind(compare) {
                    Ok(r) => r.map(Box::new).map_err(|e| e.to_string()),
                    Err(_) => {
                        Err("the comparison stopped on an internal error (see the log)".into())
                    }
                };
                let _ = tx.send(Msg::Compared(r));
            });
        }
        Request::Promote(version, reason) => {
            // On a thread: the registry's write may wait (up to SQLite's busy timeout) for a
            // run writing the home's database, and the screen must not freeze meanwhile.
            app.status = match version {
                Some(v) => format!("promoting v{v}..."),
                None => "rolling back...".into(),
            };
            jobs.unfinished.retain(|h| !h.is_finished());
            jobs.unfinished.push(std::thread::spawn(move || {
                let r = (|| -> Result<String> {
                    let mut reg = crate::registry::Registry::open(&home)?;
                    match version {
                        // The same audit as `claims promote`: gate passed, override of a
                        // refusal, or not compared, with the gate's settings.
                        Some(v) => {
                            let typed = Some(reason).filter(|r| !r.trim().is_empty());
                            crate::pipeline::compare::promote_audited(&mut reg, v, typed, &cfg.gate)
                                .map(|(from, recorded)| {
                                    format!(
                                        "champion: {} -> v{v} ({recorded})",
                                        from.map_or("none".into(), |f| format!("v{f}"))
                                    )
                                })
                        }
                        None => crate::pipeline::compare::rollback(&mut reg, &reason)
                            .map(|(a, b)| format!("rolled back: v{a} -> v{b} ({reason})")),
                    }
                })();
                let _ = tx.send(Msg::Moved(r.unwrap_or_else(|e| e.to_string())));
            }));
        }
    }
}

fn train_job(
    mut cfg: Config,
    home: &Path,
    req: crate::pipeline::train::TrainRequest,
    label: &str,
    cost_rule: bool,
    tx: Sender<Msg>,
    cancel: Arc<AtomicBool>,
) -> std::result::Result<Trial, String> {
    let imbalance = Imbalance::parse(label).map_err(|e| e.to_string())?;
    cfg.threshold.rule = if cost_rule {
        "cost".into()
    } else {
        "f1".into()
    };
    let (etx, erx) = mpsc::channel::<PipelineEvent>();
    let forward = std::thread::spawn(move || {
        for ev in erx {
            if tx.send(Msg::Event(ev)).is_err() {
                break;
            }
        }
    });
    let req = crate::pipeline::train::TrainRequest {
        imbalance: Some(imbalance.clone()),
        ..req
    };
    let out = crate::pipeline::train::train(&cfg, home, &req, Some(etx), cancel);
    let _ = forward.join();
    let o = out.map_err(|e| e.to_string())?;
    // What was used, as the registry records it (an automatic weight's value), and a cost
    // threshold rule.
    let mut settings = crate::pipeline::train::registered_label(&imbalance, o.scale_pos_weight);
    if cost_rule {
        settings.push_str(", cost");
    }
    Ok(Trial {
        settings,
        version: o.model_version,
        roc_auc: o.test.roc_auc,
        pr_auc: o.test.pr_auc,
        recall: o.test.at_threshold.recall,
        precision: o.test.at_threshold.precision,
        ece: o.test.ece,
    })
}

#[cfg(test)]
mod tests;
