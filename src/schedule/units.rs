//! For teams that prefer the system scheduler: crontab lines and systemd service + timer
//! units that run the same jobs through the headless CLI (`claims schedule trigger JOB`),
//! and the hook runner (a shell command fed the run's JSON summary on stdin).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::Job;
use super::calendar::{field, weekday};
use crate::config::ScheduleConfig;
use crate::error::{ClaimsError, Result};

/// Whether a word needs no quoting, for the shell or for systemd.
fn plain(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=:".contains(c))
}

fn shell_quote(s: &str) -> String {
    if plain(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One word of a systemd `ExecStart=` line: systemd reads C escapes inside double quotes,
/// expands `%` specifiers everywhere and `$` variables in the arguments (not in the
/// executable's path), so those are doubled where systemd would expand them.
fn systemd_word(s: &str, executable: bool) -> String {
    let mut escaped = s.replace('%', "%%");
    if !executable {
        escaped = escaped.replace('$', "$$");
    }
    if plain(s) {
        escaped
    } else {
        let mut quoted = String::from("\"");
        for c in escaped.chars() {
            match c {
                '\\' => quoted.push_str("\\\\"),
                '"' => quoted.push_str("\\\""),
                // A newline would end the unit file's line: written as a C escape.
                c if c.is_ascii_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
                c => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    }
}

/// The trigger command line; `quote(word, is_the_executable)` writes each path.
fn command(
    bin: &Path,
    home: &Path,
    config: Option<&Path>,
    job: Job,
    quote: fn(&str, bool) -> String,
) -> String {
    let mut c = format!(
        "{} --home {}",
        quote(&bin.display().to_string(), true),
        quote(&home.display().to_string(), false)
    );
    if let Some(cfg) = config {
        c.push_str(&format!(
            " --config {}",
            quote(&cfg.display().to_string(), false)
        ));
    }
    c.push_str(&format!(
        " --log-format json schedule trigger {}",
        job.name()
    ));
    c
}

/// Crontab lines for every job. A path holding a control character is refused: cron ends a
/// job's line at a newline whatever the quoting, so `--home $'/x\n* * * * * cmd'` would add
/// a job of its own.
pub fn crontab(
    cfg: &ScheduleConfig,
    bin: &Path,
    home: &Path,
    config: Option<&Path>,
) -> Result<String> {
    for p in [Some(bin), Some(home), config].into_iter().flatten() {
        let shown = p.display().to_string();
        if shown.chars().any(char::is_control) {
            return Err(ClaimsError::Usage(format!(
                "a crontab line cannot hold the path {shown:?}: it has a control character (a newline would start another cron job); use a path without one"
            )));
        }
    }
    let mut s = String::from(
        "# claims-ops jobs (claims schedule print --cron). CRON_TZ needs cronie or systemd-cron;\n\
         # with Debian's cron, convert the times to the system time zone instead.\n",
    );
    s.push_str(&format!("CRON_TZ={}\n", cfg.timezone));
    // The JSON log lines (stderr) in cron.log, for a log shipper; the one-line outcome each
    // run prints (stdout, plain text) beside it in cron.out, so cron.log stays JSON only.
    let log = home.join("logs").join("cron.log");
    let out = home.join("logs").join("cron.out");
    for job in Job::ALL {
        let line = format!(
            "{} >> {} 2>> {}",
            command(bin, home, config, job, |w, _| shell_quote(w)),
            shell_quote(&out.display().to_string()),
            shell_quote(&log.display().to_string())
        );
        // cron turns an unescaped % into a newline.
        s.push_str(&format!("{} {}\n", job.cron(cfg), line.replace('%', "\\%")));
    }
    Ok(s)
}

/// systemd's OnCalendar form of a 5-field cron expression in time zone `tz`.
pub fn on_calendar(cron: &str, tz: &str) -> Result<String> {
    on_calendars(cron, tz).map(|v| v.join("\n"))
}

/// The OnCalendar expressions of a 5-field cron expression: one, or two when both the day
/// of month and the weekday are restricted (cron runs when *either* matches, and a timer's
/// OnCalendar lines are OR-ed, while one OnCalendar with both needs both).
pub fn on_calendars(cron: &str, tz: &str) -> Result<Vec<String>> {
    let f: Vec<&str> = cron.split_whitespace().collect();
    if f.len() != 5 {
        return Err(ClaimsError::Config(format!(
            "cron '{cron}': expected 5 fields for a systemd timer"
        )));
    }
    let one = |dow: &str, dom: &str| -> Result<String> {
        Ok(format!(
            "{}*-{}-{} {}:{}:00 {tz}",
            weekday(dow)?,
            field(f[3], "month", 1, 12)?,
            field(dom, "day", 1, 31)?,
            field(f[1], "hour", 0, 23)?,
            field(f[0], "minute", 0, 59)?
        ))
    };
    if f[2] != "*" && f[4] != "*" {
        Ok(vec![one("*", f[2])?, one(f[4], "*")?])
    } else {
        Ok(vec![one(f[4], f[2])?])
    }
}

/// The systemd units: (file name, contents) for a service and a timer per job.
pub fn systemd(
    cfg: &ScheduleConfig,
    bin: &Path,
    home: &Path,
    config: Option<&Path>,
    user: Option<&str>,
) -> Result<Vec<(String, String)>> {
    if let Some(u) = user {
        super::account::check_account_name(u)?;
    }
    let user_line = user.map(|u| format!("User={u}\n")).unwrap_or_default();
    // systemd refuses to start an executable whose path holds a quote, a backslash or a
    // control character ("Executable name contains special characters").
    let shown = bin.display().to_string();
    if shown.chars().any(|c| "'\"\\".contains(c) || c.is_control()) {
        return Err(ClaimsError::Usage(format!(
            "systemd will not run an executable whose path holds a quote, a backslash or a control character: {shown}; install claims (or a link to it) at another path and run this again from there"
        )));
    }
    let mut out = vec![];
    for job in Job::ALL {
        let name = format!("claims-{}", job.name());
        // UMask: what the job writes (models, reports, logs about applicants) is its user's
        // alone, whatever the system's default.
        out.push((
            format!("{name}.service"),
            format!(
                "[Unit]\nDescription=claims-ops {} job\nAfter=network-online.target\nWants=network-online.target\n\n\
                 [Service]\nType=oneshot\n{user_line}UMask=0077\nExecStart={}\n",
                job.name(),
                command(bin, home, config, job, systemd_word)
            ),
        ));
        out.push((
            format!("{name}.timer"),
            format!(
                "[Unit]\nDescription=claims-ops {} schedule ({})\n\n[Timer]\n{}Persistent=true\nUnit={name}.service\n\n\
                 [Install]\nWantedBy=timers.target\n",
                job.name(),
                job.cron(cfg),
                on_calendars(job.cron(cfg), &cfg.timezone)?
                    .iter()
                    .map(|c| format!("OnCalendar={c}\n"))
                    .collect::<String>()
            ),
        ));
    }
    Ok(out)
}

/// The lines of a hook's stderr relayed, and the most of one line kept.
const HOOK_LINES: usize = 200;
const HOOK_LINE_BYTES: u64 = 4096;

/// A hook as logs name it: its program (the first word that is not a `NAME=value`
/// assignment, which may be a token), and "..." when it has more.
fn hook_name(cmd: &str) -> String {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let program = words
        .iter()
        .find(|w| !w.contains('='))
        .copied()
        .unwrap_or("sh");
    if words.len() > 1 {
        format!("{program} ...")
    } else {
        program.to_string()
    }
}

/// `hooks.on_alert` for a scored day with drift alerts, fed the run's summary with the
/// fields a failure hook's payload has (`job`, `date`, `home`), so one paging script reads
/// both, and tells the homes apart.
pub fn run_alert_hook(
    hooks: &crate::config::HooksConfig,
    summary: &serde_json::Value,
    home: &Path,
) {
    if hooks.on_alert.trim().is_empty() {
        return;
    }
    let mut payload = summary.clone();
    if let Some(o) = payload.as_object_mut() {
        o.insert("job".into(), "predict".into());
        o.insert("date".into(), summary["business_date"].clone());
        // A path that is not UTF-8 would make `json!` panic.
        o.insert("home".into(), serde_json::json!(home.to_string_lossy()));
    }
    run_hook(&hooks.on_alert, &payload, hooks.timeout());
}

/// Runs hook `cmd` (if any) with `summary` on stdin; waits at most `timeout`, then kills
/// its process group; never fails the run.
pub fn run_hook(cmd: &str, summary: &serde_json::Value, timeout: std::time::Duration) {
    if cmd.trim().is_empty() {
        return;
    }
    // Logs name the hook by its program, not its whole command line, which may hold a
    // token (`curl -H 'Authorization: Bearer ...'`).
    let shown = hook_name(cmd);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout stops the hook's children too, not only `sh`.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("hook '{shown}' could not start: {e}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(summary.to_string().as_bytes());
    }
    // The hook's stderr goes on as this process's own lines (JSON ones under
    // --log-format json), named as the hook's.
    // Bounded: the first lines (each cut at 4 KiB) go on; a flood is read and dropped, so
    // it neither fills the cron log nor keeps the run waiting after the hook is killed.
    let relay = child.stderr.take().map(|err| {
        let shown = shown.clone();
        std::thread::spawn(move || {
            use std::io::{BufRead, Read};
            let mut reader = std::io::BufReader::new(err);
            let (mut line, mut relayed) = (Vec::new(), 0);
            loop {
                line.clear();
                match (&mut reader)
                    .take(HOOK_LINE_BYTES)
                    .read_until(b'\n', &mut line)
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.last() != Some(&b'\n') && reader.skip_until(b'\n').is_err() {
                    break;
                }
                relayed += 1;
                if relayed <= HOOK_LINES {
                    let text = String::from_utf8_lossy(&line);
                    let text = crate::data::values::escape_controls(text.trim_end());
                    crate::say_line("WARN", &format!("hook '{shown}': {text}"));
                } else if relayed == HOOK_LINES + 1 {
                    crate::say_line("WARN", &format!("hook '{shown}': (more output left out)"));
                }
            }
        })
    });
    let deadline = std::time::Instant::now() + timeout;
    let pgid = child.id();
    let kill_group = move || {
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
    };
    // Waits for the hook's stderr to close; a process it left behind holding it open is
    // killed at the deadline, like the hook itself.
    // A child that left the hook's process group (`setsid`) keeps stderr open past the
    // kill: the relay is then left to end on its own rather than holding the run.
    let done = |relay: Option<std::thread::JoinHandle<()>>| {
        let Some(r) = relay else { return };
        while !r.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if !r.is_finished() {
            kill_group();
            let grace = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while !r.is_finished() && std::time::Instant::now() < grace {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if r.is_finished() {
            let _ = r.join();
        }
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) if !status.success() => {
                done(relay);
                tracing::error!("hook '{shown}' exited with {status}");
                return;
            }
            Ok(Some(_)) => return done(relay),
            Ok(None) if std::time::Instant::now() > deadline => {
                kill_group();
                let _ = child.kill();
                let _ = child.wait();
                done(relay);
                tracing::error!("hook '{shown}' killed after {} s", timeout.as_secs());
                return;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(e) => {
                tracing::error!("hook '{shown}': {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logs name a hook by its program, never by an assignment before it (a token).
    #[test]
    fn hooks_are_named_by_their_program() {
        assert_eq!(hook_name("curl -H 'Bearer X' https://h"), "curl ...");
        assert_eq!(hook_name("SLACK_TOKEN=xoxb-1 sh -c 'notify'"), "sh ...");
        assert_eq!(hook_name("notify-ops"), "notify-ops");
    }

    /// Control characters in an argument stay inside its quotes as C escapes: a raw
    /// newline would end the `ExecStart=` line.
    #[test]
    fn systemd_words_escape_control_characters() {
        assert_eq!(
            systemd_word("/srv/a\nb\tc", false),
            "\"/srv/a\\x0ab\\x09c\""
        );
        assert_eq!(systemd_word("/srv/x y", false), "\"/srv/x y\"");
        assert_eq!(systemd_word("/srv/plain", false), "/srv/plain");
    }

    /// A hook that exits but leaves a process holding its stderr (relayed as our own
    /// lines) does not hold the run past the timeout: the leftover is killed.
    #[cfg(unix)]
    #[test]
    fn a_leftover_holding_the_hooks_stderr_is_killed_at_the_timeout() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        run_hook(
            "sleep 30 & echo relayed >&2",
            &serde_json::json!({}),
            Duration::from_secs(1),
        );
        let took = t0.elapsed();
        assert!(took < Duration::from_secs(4), "{took:?}");
        // A hook that ends with its children returns at once.
        let t0 = Instant::now();
        run_hook(
            "echo quick >&2",
            &serde_json::json!({}),
            Duration::from_secs(20),
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    /// A % in a path reaches the command as %: escaped for cron (which makes it a newline)
    /// and for systemd (which expands specifiers).
    #[test]
    fn a_percent_in_a_path_is_escaped() {
        let cfg = crate::config::Config::from_overlay("").unwrap().schedule;
        let home = Path::new("/srv/claims 100%d/home");
        let cron = crontab(&cfg, Path::new("/usr/bin/claims"), home, None).unwrap();
        let injected = Path::new("/tmp/x\n* * * * * touch /tmp/PWNED #");
        let err = crontab(&cfg, Path::new("/usr/bin/claims"), injected, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("control character"), "{err}");
        let line = cron
            .lines()
            .find(|l| l.contains("trigger predict"))
            .unwrap();
        assert!(line.contains("'/srv/claims 100\\%d/home'"), "{line}");
        assert!(!line.replace("\\%", "").contains('%'), "{line}");
        let units = systemd(&cfg, Path::new("/usr/bin/claims"), home, None, None).unwrap();
        let service = &units
            .iter()
            .find(|(n, _)| n == "claims-predict.service")
            .unwrap()
            .1;
        assert!(service.contains("\"/srv/claims 100%%d/home\""), "{service}");
    }

    /// Paths are written the way systemd reads ExecStart: C escapes in double quotes,
    /// `%%`, and `$$` in the arguments. systemd's own parser (when `systemd-analyze` is
    /// installed) finds the executable at an odd path; a path systemd refuses is refused.
    #[test]
    fn systemd_exec_start_quotes_paths_as_systemd_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("odd; 50% $x");
        std::fs::create_dir_all(&odd).unwrap();
        let bin = odd.join("claims");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let home = Path::new("/srv/o'brien \"q\" \\ $HOME 5%");
        let cfg = crate::config::Config::from_overlay("").unwrap().schedule;
        let units = systemd(&cfg, &bin, home, None, None).unwrap();
        let (_, service) = units
            .iter()
            .find(|(n, _)| n == "claims-predict.service")
            .unwrap();
        let exec = service
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        let want = format!(
            "\"{}/odd; 50%% $x/claims\" --home \"/srv/o'brien \\\"q\\\" \\\\ $$HOME 5%%\"",
            dir.path().display()
        );
        assert!(exec.starts_with(&want), "{exec}\n{want}");
        assert!(service.lines().any(|l| l == "UMask=0077"), "{service}");
        let analyze = std::process::Command::new("systemd-analyze")
            .arg("--version")
            .output();
        if analyze.is_ok_and(|o| o.status.success()) {
            let unit = dir.path().join("claims-predict.service");
            std::fs::write(&unit, service).unwrap();
            let out = std::process::Command::new("systemd-analyze")
                .args(["verify", "--man=no"])
                .arg(&unit)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("claims is not executable"), "{err}");
            assert!(!err.contains("special characters"), "{err}");
        }
        let quoted = Path::new("/opt/o'brien/claims");
        let e = systemd(&cfg, quoted, home, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("systemd will not run") && e.contains("o'brien"),
            "{e}"
        );
    }

    /// A hook still running at its timeout is killed with every process it started: its
    /// background child never writes its file, and the run goes on soon after the timeout.
    #[cfg(unix)]
    #[test]
    fn a_slow_hook_is_killed_with_its_children() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let late = dir.path().join("late");
        let cmd = format!("(sleep 3; touch '{}') & sleep 30", late.display());
        let t0 = Instant::now();
        run_hook(&cmd, &serde_json::json!({}), Duration::from_secs(1));
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(3),
            "{took:?}"
        );
        std::thread::sleep(Duration::from_secs(4));
        assert!(
            !late.exists(),
            "the hook's background process outlived the kill"
        );
    }

    #[test]
    fn cron_to_on_calendar() {
        assert_eq!(
            on_calendar("0 19 * * *", "Europe/London").unwrap(),
            "*-*-* 19:00:00 Europe/London"
        );
        assert_eq!(
            on_calendar("0 0 1 * *", "Europe/London").unwrap(),
            "*-*-01 00:00:00 Europe/London"
        );
        assert_eq!(
            on_calendar("30 6 * * 1-5", "UTC").unwrap(),
            "Mon..Fri *-*-* 06:30:00 UTC"
        );
        assert_eq!(
            on_calendar("*/15 * * * *", "UTC").unwrap(),
            "*-*-* *:0/15:00 UTC"
        );
        assert!(on_calendar("0 19 L * *", "UTC").is_err());
        assert_eq!(
            on_calendar("30 6 * * MON-FRI", "UTC").unwrap(),
            "Mon..Fri *-*-* 06:30:00 UTC"
        );
        // Cron runs when the day of month OR the weekday matches: two OnCalendar lines.
        assert_eq!(
            on_calendars("0 19 1 * 1", "UTC").unwrap(),
            ["*-*-01 19:00:00 UTC", "Mon *-*-* 19:00:00 UTC"]
        );
    }
}
