//! Checks of the raw configuration: every value's range and every name's uniqueness, with
//! errors that quote the key, the value and what is allowed.

use super::*;
use crate::error::{ClaimsError, Result};

/// Which field of a five-field cron expression croner refuses: the first one whose
/// replacement by `*` makes the expression parse (croner's own error names no field).
fn cron_field_at_fault(expr: &str) -> Option<&'static str> {
    const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return None;
    }
    (0..5).find_map(|k| {
        let mut f = fields.clone();
        f[k] = "*";
        f.join(" ")
            .parse::<croner::Cron>()
            .is_ok()
            .then_some(FIELDS[k])
    })
}

/// Why `expr` is not a five-field cron expression that crontab and systemd read alike.
fn not_standard_cron(expr: &str) -> Option<String> {
    const NAMES: [&str; 19] = [
        "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Some(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), got {}",
            fields.len()
        ));
    }
    // crontab ORs the day of month and the weekday only when neither starts with `*`;
    // croner (the built-in scheduler) and systemd OR them whenever both are not `*`.
    let (dom, dow) = (fields[2], fields[4]);
    let starred = |f: &str| f.starts_with('*') && f != "*";
    if (starred(dom) && dow != "*") || (starred(dow) && dom != "*") {
        return Some(format!(
            "day of month '{dom}' with weekday '{dow}' is read two ways: crontab runs it when both match (a field starting with * counts as unrestricted), systemd and the built-in scheduler when either does; write the starred field as a range (e.g. '1-31/2' for '*/2', '0-6/2' for a weekday '*/2') to run when either matches, or make the other field '*'"
        ));
    }
    for f in &fields {
        for atom in f.split([',', '-', '/']) {
            let ok = atom == "*"
                || (!atom.is_empty() && atom.bytes().all(|b| b.is_ascii_digit()))
                || NAMES.contains(&atom.to_ascii_uppercase().as_str());
            if !ok {
                return Some(format!(
                    "'{atom}' in '{f}' is not a number, * or a day or month name (L, W and # are not standard cron)"
                ));
            }
        }
    }
    None
}

pub(super) fn bad(key: &str, value: impl std::fmt::Display, allowed: &str) -> ClaimsError {
    ClaimsError::Config(format!("key '{key}' = '{value}': {allowed}"))
}

fn range(key: &str, raw: RawRange, lo: f64, hi: f64, integer: bool) -> Result<Range> {
    let allowed = format!(
        "expected {{ min, max }} or a list of {} within [{lo}, {hi}]",
        if integer { "integers" } else { "numbers" }
    );
    let ok = |v: f64| v >= lo && v <= hi && (!integer || v.fract() == 0.0);
    match raw {
        RawRange::Range { min, max } => {
            if !ok(min) {
                return Err(bad(&format!("{key}.min"), min, &allowed));
            }
            if !ok(max) || max < min {
                return Err(bad(
                    &format!("{key}.max"),
                    max,
                    &format!("{allowed}, and >= min"),
                ));
            }
            Ok(Range::Uniform { min, max })
        }
        RawRange::Choice(v) => {
            if v.is_empty() {
                return Err(bad(key, "[]", &allowed));
            }
            if let Some(x) = v.iter().find(|x| !ok(**x)) {
                return Err(bad(key, x, &allowed));
            }
            Ok(Range::Choice(v))
        }
    }
}

pub(super) fn validate(raw: Raw, merged_toml: String) -> Result<Config> {
    let s = &raw.split;
    if !(s.validation > 0.0 && s.validation < 0.5) {
        return Err(bad("split.validation", s.validation, "must be in (0, 0.5)"));
    }
    if !(s.test > 0.0 && s.test < 0.5) {
        return Err(bad("split.test", s.test, "must be in (0, 0.5)"));
    }
    if s.validation + s.test >= 0.8 {
        return Err(bad(
            "split.test",
            s.test,
            "validation + test must leave at least 20% to train on",
        ));
    }
    let rs = raw.search;
    if rs.iterations == 0 || rs.iterations > 100_000 {
        return Err(bad(
            "search.iterations",
            rs.iterations,
            "must be in [1, 100000]",
        ));
    }
    if !(2..=20).contains(&rs.folds) {
        return Err(bad("search.folds", rs.folds, "must be in [2, 20]"));
    }
    if rs.early_stopping_rounds == 0 {
        return Err(bad("search.early_stopping_rounds", 0, "must be at least 1"));
    }
    if !["logloss", "auc", "aucpr"].contains(&rs.metric.as_str()) {
        return Err(bad(
            "search.metric",
            &rs.metric,
            "expected one of logloss, auc, aucpr",
        ));
    }
    if rs.halving_factor < 2 {
        return Err(bad(
            "search.halving_factor",
            rs.halving_factor,
            "must be an integer >= 2",
        ));
    }
    let strategy = match rs.strategy.as_str() {
        "full" => SearchStrategy::Full,
        "halving" => SearchStrategy::Halving {
            factor: rs.halving_factor as usize,
        },
        other => {
            return Err(bad("search.strategy", other, "expected full or halving"));
        }
    };
    let sp = rs.space;
    let space = SearchSpace {
        n_estimators: range(
            "search.space.n_estimators",
            sp.n_estimators,
            1.0,
            10_000.0,
            true,
        )?,
        learning_rate: range(
            "search.space.learning_rate",
            sp.learning_rate,
            1e-6,
            1.0,
            false,
        )?,
        subsample: range("search.space.subsample", sp.subsample, 1e-6, 1.0, false)?,
        max_depth: range("search.space.max_depth", sp.max_depth, 1.0, 20.0, true)?,
        colsample_bytree: range(
            "search.space.colsample_bytree",
            sp.colsample_bytree,
            1e-6,
            1.0,
            false,
        )?,
        min_child_weight: range(
            "search.space.min_child_weight",
            sp.min_child_weight,
            0.0,
            1e6,
            false,
        )?,
    };
    let search = SearchConfig {
        iterations: rs.iterations,
        folds: rs.folds,
        early_stopping_rounds: rs.early_stopping_rounds,
        metric: rs.metric,
        strategy,
        sample_rung_min_rows: rs.sample_rung_min_rows,
        space,
    };
    if !(1..=86_400).contains(&raw.hooks.timeout_s) {
        return Err(bad(
            "hooks.timeout_s",
            raw.hooks.timeout_s,
            "must be a whole number of seconds from 1 to 86400",
        ));
    }
    let ri = raw.imbalance;
    let undersample_ratio = ri.undersample_ratio;
    if !Imbalance::in_range(undersample_ratio) {
        return Err(bad(
            "imbalance.undersample_ratio",
            undersample_ratio,
            "must be a number from 0.001 to 1000000",
        ));
    }
    // Checked whatever the strategy: a typo in a setting not used yet surfaces when it is.
    let weight = match &ri.scale_pos_weight {
        toml::Value::String(s) if s == "auto" => None,
        v => match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
            Some(w) if Imbalance::in_range(w) => Some(w),
            _ => {
                return Err(bad(
                    "imbalance.scale_pos_weight",
                    v,
                    "expected \"auto\" or a number from 0.001 to 1000000",
                ));
            }
        },
    };
    let imbalance = match ri.strategy.as_str() {
        "none" => Imbalance::None,
        "weight" => Imbalance::Weight(weight),
        "undersample" => Imbalance::Undersample(undersample_ratio),
        other => {
            return Err(bad(
                "imbalance.strategy",
                other,
                "expected one of none, weight, undersample",
            ));
        }
    };
    if raw.threads.per_fit == 0 || raw.threads.per_fit > 256 {
        return Err(bad(
            "threads.per_fit",
            raw.threads.per_fit,
            "must be in [1, 256]",
        ));
    }
    if raw.threads.parallel_fits > 256 {
        return Err(bad(
            "threads.parallel_fits",
            raw.threads.parallel_fits,
            "must be in [0, 256] (0 = one per core)",
        ));
    }
    let schema = super::validate_schema::validate_schema(raw.schema)?;
    let inf = &raw.inference;
    if inf.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(
            "inference.timezone",
            &inf.timezone,
            "expected an IANA time zone such as Europe/London",
        ));
    }
    if !(0.0..=1.0).contains(&inf.quarantine_limit) {
        return Err(bad(
            "inference.quarantine_limit",
            inf.quarantine_limit,
            "must be in [0, 1]",
        ));
    }
    if inf.top_reasons > 20 {
        return Err(bad(
            "inference.top_reasons",
            inf.top_reasons,
            "must be in [0, 20]",
        ));
    }
    if !(inf.sink.is_empty()
        || inf.sink.starts_with("sqlite:")
        || inf.sink.starts_with("postgres://")
        || inf.sink.starts_with("postgresql://"))
    {
        return Err(bad(
            "inference.sink",
            &inf.sink,
            "expected \"\", sqlite:PATH or postgres://...",
        ));
    }
    super::validate_gate::gate(&raw.gate)?;
    let t = &raw.threshold;
    if !["f1", "cost"].contains(&t.rule.as_str()) {
        return Err(bad("threshold.rule", &t.rule, "expected f1 or cost"));
    }
    for (key, v) in [
        ("threshold.cost_false_negative", t.cost_false_negative),
        ("threshold.cost_false_positive", t.cost_false_positive),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(bad(key, v, "must be a finite number > 0"));
        }
    }
    let sc = &raw.schedule;
    if sc.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(
            "schedule.timezone",
            &sc.timezone,
            "expected an IANA time zone such as Europe/London",
        ));
    }
    if !["none", "latest", "all"].contains(&sc.catch_up.as_str()) {
        return Err(bad(
            "schedule.catch_up",
            &sc.catch_up,
            "expected none, latest or all",
        ));
    }
    for (key, expr) in [
        ("schedule.train.cron", &sc.train.cron),
        ("schedule.predict.cron", &sc.predict.cron),
    ] {
        if let Err(e) = expr.parse::<croner::Cron>() {
            let field =
                cron_field_at_fault(expr).map_or(String::new(), |f| format!("the {f} field: "));
            return Err(bad(
                key,
                expr,
                &format!(
                    "not a cron expression ({field}{}; fields: minute hour day-of-month month day-of-week)",
                    e.to_string().trim_end_matches('.')
                ),
            ));
        }
        // The same expression goes into crontab lines and systemd timers: five standard
        // fields only (no seconds or year field, no L, W or #).
        if let Some(why) = not_standard_cron(expr) {
            return Err(bad(key, expr, &why));
        }
        let fires = crate::schedule::Schedule::new(expr, &sc.timezone)
            .and_then(|s| s.next_after(chrono::Utc::now()));
        if fires.is_err() {
            return Err(bad(key, expr, "never fires (no date matches it)"));
        }
    }
    if sc.retries > 20 {
        return Err(bad("schedule.retries", sc.retries, "must be at most 20"));
    }
    if !(1..=86_400).contains(&sc.retry_backoff_seconds) {
        return Err(bad(
            "schedule.retry_backoff_seconds",
            sc.retry_backoff_seconds,
            "must be from 1 to 86400 seconds",
        ));
    }
    if sc.lock_wait_minutes > 1440 {
        return Err(bad(
            "schedule.lock_wait_minutes",
            sc.lock_wait_minutes,
            "must be at most 1440 (a day)",
        ));
    }
    if sc.train.data.is_empty() {
        return Err(bad(
            "schedule.train.data",
            "[]",
            "must list at least one file",
        ));
    }
    for (key, text, known) in sc
        .train
        .data
        .iter()
        .map(|d| ("schedule.train.data", d, &["{date}", "{month}"][..]))
        .chain([(
            "schedule.predict.input_pattern",
            &sc.predict.input_pattern,
            &["{date}"][..],
        )])
    {
        let mut rest = text.as_str();
        while let Some(at) = rest.find('{') {
            let end = rest[at..].find('}').map_or(rest.len(), |e| at + e + 1);
            let p = &rest[at..end];
            if !known.contains(&p) {
                return Err(bad(
                    key,
                    text,
                    &format!("unknown placeholder '{p}' (known: {})", known.join(", ")),
                ));
            }
            rest = &rest[end..];
        }
    }
    if !(-7..=0).contains(&sc.predict.date_offset_days) {
        return Err(bad(
            "schedule.predict.date_offset_days",
            sc.predict.date_offset_days,
            "must be a whole number of days from -7 to 0 (-1: score the day before the run)",
        ));
    }
    if !sc.predict.input_pattern.contains("{date}") {
        return Err(bad(
            "schedule.predict.input_pattern",
            &sc.predict.input_pattern,
            "must contain {date}",
        ));
    }
    let d = &raw.drift;
    if !(d.psi_warn > 0.0 && d.psi_alert >= d.psi_warn) {
        return Err(bad(
            "drift.psi_alert",
            d.psi_alert,
            "need 0 < psi_warn <= psi_alert",
        ));
    }
    validate_keys(&raw.tui.keys)?;
    for (key, value) in [
        ("tui.accent", &raw.tui.accent),
        ("tui.alert", &raw.tui.alert),
    ] {
        if !is_colour(value) {
            return Err(bad(
                key,
                value,
                "expected a colour name (red, cyan, light-blue, ...), #rrggbb or 0-255",
            ));
        }
    }
    Ok(Config {
        seed: raw.seed,
        schema,
        split: raw.split,
        search,
        imbalance,
        undersample_ratio,
        correct_probabilities: ri.correct_probabilities,
        threads: raw.threads,
        registry: raw.registry,
        inference: raw.inference,
        drift: raw.drift,
        gate: raw.gate,
        threshold: raw.threshold,
        schedule: raw.schedule,
        hooks: raw.hooks,
        tui: raw.tui,
        merged_toml,
        extra_file: None,
    })
}

/// `[tui.keys]`: known actions, one character each, and no two actions (or a fixed key)
/// on the same key once the rebinding is applied.
fn validate_keys(keys: &std::collections::BTreeMap<String, String>) -> Result<()> {
    use super::sections::{TUI_BINDABLE, TUI_FIXED_KEYS};
    let mut bound: Vec<(&str, char)> = TUI_BINDABLE.to_vec();
    for (action, key) in keys {
        let key_name = format!("tui.keys.{action}");
        let Some(slot) = bound.iter_mut().find(|(a, _)| a == action) else {
            let names: Vec<&str> = TUI_BINDABLE.iter().map(|(a, _)| *a).collect();
            return Err(bad(
                &key_name,
                key,
                &format!("unknown action (one of {})", names.join(", ")),
            ));
        };
        let mut chars = key.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => slot.1 = c,
            _ => return Err(bad(&key_name, key, "expected one character")),
        }
    }
    for (i, (action, c)) in bound.iter().enumerate() {
        if TUI_FIXED_KEYS.contains(c) {
            return Err(bad(
                &format!("tui.keys.{action}"),
                c,
                "1-6, h, j, k and l are fixed (panes and moving)",
            ));
        }
        if let Some((other, _)) = bound[..i].iter().find(|(_, d)| d == c) {
            // Named after the setting the user wrote (`quit = "r"` clashes with rerun's
            // default key, and is the one to change).
            let (action, other) = if keys.contains_key(*action) {
                (action, other)
            } else {
                (other, action)
            };
            return Err(bad(
                &format!("tui.keys.{action}"),
                c,
                &format!("'{c}' is already the key of '{other}' (rebind that one too)"),
            ));
        }
    }
    Ok(())
}

/// Whether the console can use `s` as a colour: what its terminal library's colour parser
/// accepts
/// (names in any case, with spaces, dashes or underscores, "bright" for "light", "grey";
/// an index 0-255; `#rrggbb`), checked here so that the core does not depend on the UI.
/// A console test compares the two on a list of samples.
pub fn is_colour(s: &str) -> bool {
    const NAMES: [&str; 17] = [
        "reset",
        "black",
        "red",
        "green",
        "yellow",
        "blue",
        "magenta",
        "cyan",
        "gray",
        "darkgray",
        "lightred",
        "lightgreen",
        "lightyellow",
        "lightblue",
        "lightmagenta",
        "lightcyan",
        "white",
    ];
    let name = s
        .to_lowercase()
        .replace([' ', '-', '_'], "")
        .replace("bright", "light")
        .replace("grey", "gray")
        .replace("silver", "gray")
        .replace("lightblack", "darkgray")
        .replace("lightwhite", "white")
        .replace("lightgray", "white");
    NAMES.contains(&name.as_str())
        || s.parse::<u8>().is_ok()
        || (s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit()))
}
