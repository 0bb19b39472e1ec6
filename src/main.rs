//! `claims`: parse arguments, set up logging, run the command, map errors to exit codes.

use std::io::IsTerminal;

use claims_ops::cli::{Cli, LogFormat};
use claims_ops::config::Config;
use claims_ops::error::ClaimsError;
use claims_ops::headless;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// A run's "run failed" line goes to the log file only: a command prints its error itself,
/// once, and the scheduler logs each job's outcome (an error line with the run and exit
/// code). `daemon`: the scheduler, whose jobs print no result, so the warnings of their
/// results go to stderr in text mode too (every other command prints them in its result).
fn init_logging(format: LogFormat, home: Option<&std::path::Path>, console_on: bool, daemon: bool) {
    let default = if format == LogFormat::Json {
        "info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("CLAIMS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // The console (TUI) owns the screen: its logs go to the file only.
    let filter = if console_on {
        filter
    } else {
        EnvFilter::new("off")
    };
    let console = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(|| Escaped {
                out: std::io::stderr(),
                json: true,
            })
            .with_filter(filter)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target() != claims_ops::pipeline::RUN_OUTCOME
            }))
            .boxed(),
        // Without colours: their escape codes would be escaped with the rest (a message
        // quoting a file name must not reach the terminal raw).
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(|| Escaped {
                out: std::io::stderr(),
                json: false,
            })
            .with_ansi(false)
            .with_filter(filter)
            .with_filter(tracing_subscriber::filter::filter_fn(move |m| {
                m.target() != claims_ops::pipeline::RUN_OUTCOME
                    && (daemon || m.target() != claims_ops::pipeline::RESULT_WARNING)
            }))
            .boxed(),
    };
    // Root in another account's home (`sudo claims --home H schedule print ...`) writes
    // no log there: a log folder or file it made would be root's, and the account's jobs
    // could not append to it; handing it over would trust links the account controls.
    let others = home.and_then(|h| {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let owner = std::fs::metadata(h).ok()?.uid();
        (root && owner != 0).then_some(owner)
    });
    // Every run also appends JSON lines to HOME/logs/claims.log (the TUI's log pane reads it).
    let opened = home
        .filter(|_| others.is_none())
        .map(|h| -> std::io::Result<std::fs::File> {
            // A new home holds applicants' data (scores, quarantined rows, logs): its owner's
            // alone, whatever the umask (an existing one keeps its mode).
            if !h.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(h)?;
            }
            let dir = h.join("logs");
            std::fs::create_dir_all(&dir)?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("claims.log"))
        });
    // A home this user may write whose log it cannot (a logs folder owned by another
    // account): said once, since the README promises every run is logged there. A
    // read-only viewer of another account's home is not told on every command.
    let unlogged = match (home, &opened) {
        (Some(h), Some(Err(e))) if writable(h) => Some(format!(
            "warning: cannot write the log {} ({e}): this run is logged on stderr only",
            h.join("logs").join("claims.log").display()
        )),
        (Some(h), None) if others.is_some() && h.join("logs").join("claims.log").exists() => {
            Some(format!(
                "warning: running as root in a home owned by user id {}: this run is logged on stderr only, not in {} (which stays that account's)",
                others.unwrap_or_default(),
                h.join("logs").join("claims.log").display()
            ))
        }
        _ => None,
    };
    let file = opened.and_then(Result::ok);
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::sync::Mutex::new(Escaped { out: f, json: true }))
            .with_filter(EnvFilter::new("info"))
    });
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init();
    if let Some(w) = unlogged {
        claims_ops::say_line("WARN", &w);
    }
}

/// A log writer that escapes control and bidi characters in what it writes (a JSON log
/// line holds a file name's bidi control raw: valid JSON, but it reorders a terminal's
/// text), as everything else `claims` prints is escaped, and gives command hints the
/// command's `--home`/`--config`. `json`: its lines are JSON, which also get their span's
/// run id in `fields` (tracing formats each event into one buffer and writes it at once,
/// so a write is a whole line).
struct Escaped<W: std::io::Write> {
    out: W,
    json: bool,
}

impl<W: std::io::Write> std::io::Write for Escaped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(s) => {
                let s = if self.json {
                    claims_ops::headless::logline::run_id_in_fields(s)
                } else {
                    std::borrow::Cow::Borrowed(s)
                };
                let line = claims_ops::with_hint_args(&s, self.json);
                self.out
                    .write_all(claims_ops::for_terminal(&line).as_bytes())
            }
            Err(_) => self.out.write_all(buf),
        }?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Whether this user may create files in folder `p`.
fn writable(p: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        // SAFETY: a NUL-terminated path.
        .is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0)
}

fn main() {
    // An empty CLAIMS_HOME (`CLAIMS_HOME= claims ...`, an unset variable in a unit file) is
    // no home: without this, clap read it as --home given without a value and refused
    // every command, even one with --home.
    if std::env::var_os("CLAIMS_HOME").is_some_and(|h| h.is_empty()) {
        // SAFETY: the first thing the process does, before any other thread exists.
        unsafe { std::env::remove_var("CLAIMS_HOME") };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and exit 0; a bad argument is a usage error, and
            // under --json a scheduler still gets its summary line.
            let code = if e.use_stderr() {
                claims_ops::error::EXIT_USAGE
            } else {
                0
            };
            // The message without clap's usage and help lines, on one line.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty())
                .collect();
            let message = message.join(" ");
            let first = message.trim_start_matches("error: ");
            // Under --log-format json, stderr carries JSON lines only (a log shipper reads
            // them), so a bad argument is one JSON line there too.
            let args: Vec<String> = std::env::args().collect();
            let json_logs = args
                .windows(2)
                .any(|w| w[0] == "--log-format" && w[1] == "json")
                || args.iter().any(|a| a == "--log-format=json");
            if code != 0 && json_logs {
                let line = serde_json::json!({
                    "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "level": "ERROR",
                    "fields": {"message": first, "exit_code": code},
                    "target": "claims::error",
                });
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "{}",
                    claims_ops::for_terminal(&line.to_string())
                );
            } else {
                let _ = e.print();
            }
            if code != 0 && args.iter().any(|a| a == "--json") {
                let summary = serde_json::json!({"ok": false, "exit_code": code, "error": first});
                emit(&format!("{summary}\n"));
            }
            std::process::exit(code);
        }
    };
    let json = cli.json;
    let json_logs = cli.log_format == LogFormat::Json;
    let command = cli.command.as_ref().map(|c| c.name());
    if let (true, Some(c)) = (json, command) {
        let _ = claims_ops::JSON_SUMMARY_FOR.set(c);
    }
    let code = match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            say_error(&e, json_logs);
            if json {
                // Schedulers read the last stdout line: a failure is a summary too.
                let mut summary = serde_json::json!({"command": command, "ok": false, "exit_code": e.exit_code(), "error": e.to_string()});
                // The run it recorded, when it got that far: `claims runs RUN_ID` has the rest.
                if let Some(id) = claims_ops::pipeline::last_run_id() {
                    summary["run_id"] = serde_json::json!(id);
                }
                emit(&format!("{summary}\n"));
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Writes command output to stdout. A reader that went away (`claims runs | head -1`) is
/// not a failure: the command's work is done and its exit code stands; the rest of the
/// output is dropped. Any other write error is reported on stderr.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A report quotes file names and values from the user's files: no escape sequence of
    // theirs reaches the terminal (JSON output is escaped by serde already).
    let text = claims_ops::with_hint_args(text, text.starts_with('{'));
    let text = claims_ops::for_terminal(&text);
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        claims_ops::say!("error: writing the output: {e}");
    }
}

/// Runs the command; `Ok(code)` once its output is printed (non-zero when the command
/// finished but must still fail, e.g. a drift alert with --fail-on-drift).
fn real_main(cli: Cli) -> Result<i32, ClaimsError> {
    let on_tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let command = match cli.command {
        Some(c) => c,
        None if on_tty => claims_ops::cli::Command::Tui,
        None => {
            return Err(ClaimsError::Usage(
                "no command given, and not on a terminal, so no console either (see `claims --help`)".into(),
            ));
        }
    };
    let home = headless::resolve_home(cli.home)?;
    // Hints in what this command prints (its refusals included) repeat its --home and
    // --config.
    let _ = claims_ops::HINT_ARGS.set(headless::setup_args(&home, cli.config.as_deref()));
    headless::refuse_missing_home(&command, &home, cli.config.as_deref())?;
    let is_tui = matches!(command, claims_ops::cli::Command::Tui);
    let daemon = matches!(
        command,
        claims_ops::cli::Command::Schedule {
            action: claims_ops::cli::ScheduleAction::Run,
            ..
        }
    );
    // JSON stderr is set first, so even a warning of the logging set-up (an unwritable
    // log) is a JSON line under --log-format json (a cron log shipper reads them).
    if cli.log_format == LogFormat::Json {
        claims_ops::JSON_STDERR.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    init_logging(cli.log_format, Some(&home), !is_tui, daemon);
    if cli.log_format == LogFormat::Json {
        headless::progress_as_json_logs();
    }
    if matches!(command, claims_ops::cli::Command::ConfigPath) {
        let out = headless::config_path();
        emit(&format!("{}\n", out.text));
        if cli.json {
            let mut j = out.json;
            j["ok"] = serde_json::json!(true);
            emit(&format!("{j}\n"));
        }
        return Ok(0);
    }
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        // The run and model records no setting changes: a broken config (perhaps the very
        // thing being fixed after a failed night) does not hide them.
        Err(e)
            if matches!(
                command,
                claims_ops::cli::Command::Runs { .. } | claims_ops::cli::Command::Models { .. }
            ) =>
        {
            claims_ops::say!(
                "warning: {e}\n(the run and model records are shown anyway: they do not depend on the config; other commands refuse it until it is fixed)"
            );
            Config::built_in()?
        }
        Err(e) => return Err(e),
    };
    claims_ops::model::xgb::Booster::set_global_verbosity(1)?;
    if let claims_ops::cli::Command::Tui = command {
        claims_ops::tui::run(cfg, home)?;
        return Ok(0);
    }
    let out = headless::run(command, &cfg, &home)?;
    emit(&out.text);
    if !out.text.ends_with('\n') {
        emit("\n");
    }
    let mut summary = out.json;
    if let Some(obj) = summary.as_object_mut() {
        obj.entry("ok").or_insert(serde_json::json!(true));
    }
    if let (Some(e), Some(obj)) = (&out.then_fail, summary.as_object_mut()) {
        obj.insert("ok".into(), serde_json::json!(false));
        obj.insert("exit_code".into(), serde_json::json!(e.exit_code()));
        obj.insert("error".into(), serde_json::json!(e.to_string()));
    }
    if cli.json {
        emit(&format!("{summary}\n"));
    }
    match out.then_fail {
        Some(e) => {
            say_error(
                &e,
                claims_ops::JSON_STDERR.load(std::sync::atomic::Ordering::Relaxed),
            );
            Ok(e.exit_code())
        }
        None => Ok(0),
    }
}

/// The command's error on stderr, once: `error: ...`, or under `--log-format json` one
/// log line with its `exit_code` and the run it recorded (`run_id`), if any.
fn say_error(e: &ClaimsError, json_logs: bool) {
    let text = claims_ops::pipeline::error_chain(e);
    // The home's log gets the outcome with its exit code too (only there: the target is
    // left out of stderr), so an error outside any run (a config, a lock) is in it.
    use claims_ops::pipeline::RUN_OUTCOME;
    let code = e.exit_code();
    match claims_ops::pipeline::last_run_id() {
        Some(id) => {
            tracing::error!(target: RUN_OUTCOME, run_id = %id, exit_code = code, "exit {code}: {text}")
        }
        None => tracing::error!(target: RUN_OUTCOME, exit_code = code, "exit {code}: {text}"),
    }
    if !json_logs {
        claims_ops::say!("error: {text}");
        return;
    }
    let mut fields = serde_json::json!({"message": text, "exit_code": e.exit_code()});
    if let Some(id) = claims_ops::pipeline::last_run_id() {
        fields["run_id"] = serde_json::json!(id);
    }
    // The same shape as the other stderr lines.
    let line = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "ERROR",
        "fields": fields,
        "target": "claims::error",
    });
    use std::io::Write as _;
    let line = line.to_string();
    let line = claims_ops::with_hint_args(&line, true);
    let _ = writeln!(std::io::stderr(), "{}", claims_ops::for_terminal(&line));
}
