//! Tests of the configuration: defaults, layering, and every refusal with its key.

use super::*;

#[test]
fn default_config_is_valid() {
    let c = Config::from_overlay("").unwrap();
    assert_eq!(c.schema.categorical.len(), 20);
    assert_eq!(c.schema.numeric.len(), 16);
    assert_eq!(c.search.early_stopping_rounds, 15);
    assert_eq!(c.search.strategy, SearchStrategy::Halving { factor: 3 });
    assert_eq!(c.imbalance, Imbalance::None);
}

#[test]
fn bad_value_names_key_value_and_allowed() {
    let e = Config::from_overlay("[search.space]\nlearning_rate = { min = 0.1, max = 1.5 }")
        .unwrap_err()
        .to_string();
    assert!(e.contains("search.space.learning_rate.max"), "{e}");
    assert!(e.contains("'1.5'"), "{e}");
    let e = Config::from_overlay("[imbalance]\nstrategy = \"smote\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("imbalance.strategy") && e.contains("smote") && e.contains("undersample"),
        "{e}"
    );
    // A bad weight is refused even while the strategy does not use it.
    let e = Config::from_overlay("[imbalance]\nscale_pos_weight = \"autoo\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("imbalance.scale_pos_weight") && e.contains("autoo"),
        "{e}"
    );
    // An allowed value listed twice (here as 1 and "1") is named.
    let e = Config::from_overlay("[schema.categorical]\ngender = [0, 1, \"1\"]")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("schema.categorical.gender") && e.contains("'1'") && e.contains("twice"),
        "{e}"
    );
    let e = Config::from_overlay("[search]\nfoldz = 3")
        .unwrap_err()
        .to_string();
    assert!(e.contains("foldz"), "{e}");
    let e = Config::from_overlay("[tui]\naccent = \"purplish\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("overlay: key 'tui.accent' = 'purplish'") && e.contains("#rrggbb"),
        "{e}"
    );
    assert!(Config::from_overlay("[tui]\naccent = \"#30a0ff\"\nalert = \"light-red\"").is_ok());
    // Rebound keys: known actions, one character, no clash with another action's key
    // or a fixed key; swapping two actions is fine.
    for (keys, want) in [
        ("foo = \"x\"", "tui.keys.foo' = 'x': unknown action"),
        (
            "quit = \"ab\"",
            "tui.keys.quit' = 'ab': expected one character",
        ),
        ("help = \"q\"", "'q' is already the key of 'quit'"),
        // Named after the key the user set, not the default it clashes with.
        (
            "quit = \"r\"",
            "tui.keys.quit' = 'r': 'r' is already the key of 'rerun'",
        ),
        ("train = \"j\"", "1-6, h, j, k and l are fixed"),
    ] {
        let e = Config::from_overlay(&format!("[tui.keys]\n{keys}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{keys}: {e}");
    }
    assert!(Config::from_overlay("[tui.keys]\nquit = \"?\"\nhelp = \"q\"\n").is_ok());
    // A p-value bound the bootstrap can never reach (its p is at least 2 / (rounds + 1)).
    let e = Config::from_overlay(
        "[gate]\nprimary_metric = \"pr_auc\"\nmax_p_value = 0.001\nbootstrap_rounds = 1000",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("gate.max_p_value' = '0.001': cannot be met")
            && e.contains("= 0.0020 with 1000 rounds")
            && e.contains("bootstrap_rounds to at least 1999"),
        "{e}"
    );
    let ok = "[gate]\nprimary_metric = \"pr_auc\"\nmax_p_value = 0.001\nbootstrap_rounds = 2000";
    assert!(Config::from_overlay(ok).is_ok());
    // DeLong's p has no such floor.
    assert!(Config::from_overlay("[gate]\nmax_p_value = 0.001").is_ok());
}

/// Schedule settings that cron, systemd or the scheduler would misread are refused with
/// the key: a seconds field, L/W/#, a date that never comes, unbounded retries, an
/// empty or unknown-placeholder file list, unbounded parallel fits.
#[test]
fn schedule_values_cron_and_systemd_can_use() {
    let cases = [
        (
            "[schedule.predict]\ncron = \"0 19 * * * *\"",
            "schedule.predict.cron",
            "expected 5 fields",
        ),
        (
            "[schedule.train]\ncron = \"0 0 L * *\"",
            "schedule.train.cron",
            "not standard cron",
        ),
        (
            "[schedule.predict]\ncron = \"0 19 * * 5#2\"",
            "schedule.predict.cron",
            "not standard cron",
        ),
        (
            "[schedule.predict]\ncron = \"0 19 30 2 *\"",
            "schedule.predict.cron",
            "never fires",
        ),
        (
            "[schedule.predict]\ncron = \"0 6 */2 * 1\"",
            "schedule.predict.cron",
            "is read two ways: crontab runs it when both match",
        ),
        (
            "[schedule.train]\ncron = \"0 6 1 * */1\"",
            "schedule.train.cron",
            "'0-6/2' for a weekday '*/2'",
        ),
        (
            "[schedule.predict]\ncron = \"0 25 * * *\"",
            "schedule.predict.cron",
            "not a cron expression (the hour field: ",
        ),
        (
            "[schedule.train]\ncron = \"0 0 1 13 *\"",
            "schedule.train.cron",
            "(the month field: ",
        ),
        (
            "[schedule]\nretries = 100000",
            "schedule.retries",
            "at most 20",
        ),
        (
            "[schedule]\nretry_backoff_seconds = 0",
            "schedule.retry_backoff_seconds",
            "from 1 to 86400",
        ),
        (
            "[schedule.train]\ndata = []",
            "schedule.train.data",
            "at least one file",
        ),
        (
            "[schedule.train]\ndata = [\"in/{bogus}.csv\"]",
            "schedule.train.data",
            "unknown placeholder '{bogus}'",
        ),
        (
            "[schedule.predict]\ninput_pattern = \"in/{date}_{month}.csv\"",
            "schedule.predict.input_pattern",
            "unknown placeholder '{month}'",
        ),
        (
            "[threads]\nparallel_fits = 100000",
            "threads.parallel_fits",
            "[0, 256]",
        ),
        (
            "[hooks]\ntimeout_s = 0",
            "hooks.timeout_s",
            "from 1 to 86400",
        ),
    ];
    for (overlay, key, why) in cases {
        let e = Config::from_overlay(overlay).unwrap_err().to_string();
        assert!(
            e.contains(&format!("key '{key}'")) && e.contains(why),
            "{overlay}: {e}"
        );
    }
    for ok in ["30 6 * * MON-FRI", "*/15 * * * *", "0 0 1 jan,jul *"] {
        let overlay = format!("[schedule.predict]\ncron = \"{ok}\"");
        assert!(Config::from_overlay(&overlay).is_ok(), "{ok}");
    }
}

#[test]
fn search_strategy_and_halving_factor() {
    let c = Config::from_overlay("[search]\nstrategy = \"halving\"\nhalving_factor = 4").unwrap();
    assert_eq!(c.search.strategy, SearchStrategy::Halving { factor: 4 });
    let c = Config::from_overlay("[search]\nstrategy = \"full\"").unwrap();
    assert_eq!(c.search.strategy, SearchStrategy::Full);
    let e = Config::from_overlay("[search]\nstrategy = \"hyperband\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("search.strategy") && e.contains("'hyperband'") && e.contains("halving"),
        "{e}"
    );
    for bad in ["1", "0", "-3"] {
        let e = Config::from_overlay(&format!("[search]\nhalving_factor = {bad}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("search.halving_factor") && e.contains(&format!("'{bad}'")),
            "{e}"
        );
        assert!(e.contains(">= 2"), "{e}");
    }
    let e = Config::from_overlay("[search]\nhalving_factor = 2.5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("search.halving_factor"), "{e}");
}

#[test]
fn imbalance_cli_forms() {
    assert_eq!(Imbalance::parse("none").unwrap(), Imbalance::None);
    assert_eq!(Imbalance::parse("weight").unwrap(), Imbalance::Weight(None));
    assert_eq!(
        Imbalance::parse("weight:4").unwrap(),
        Imbalance::Weight(Some(4.0))
    );
    assert_eq!(
        Imbalance::parse("undersample:2.5").unwrap(),
        Imbalance::Undersample(2.5)
    );
    for bad in ["undersample", "undersample:-1", "smote", "weight:x"] {
        assert!(Imbalance::parse(bad).is_err(), "{bad}");
    }
    // Weights and ratios that collapse a model are refused, with the range.
    for bad in [
        "weight:1e-300",
        "weight:1e300",
        "undersample:1e-9",
        "weight:inf",
    ] {
        let e = Imbalance::parse(bad).unwrap_err().to_string();
        assert!(
            e.contains(bad) && e.contains("from 0.001 to 1000000"),
            "{e}"
        );
    }
    assert!(
        Imbalance::parse("weight:0.001").is_ok() && Imbalance::parse("undersample:1e6").is_ok()
    );
    for (key, v) in [("scale_pos_weight", "1e-300"), ("undersample_ratio", "2e6")] {
        let e = Config::from_overlay(&format!("[imbalance]\n{key} = {v}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(key) && e.contains("from 0.001 to 1000000"),
            "{e}"
        );
    }
}

/// A user file's `schema.drop` removes a feature the default declared (the column is
/// then optional and ignored); declaring and dropping it in the same file is refused.
#[test]
fn a_later_drop_removes_a_default_feature() {
    let cfg =
        Config::from_overlay("[schema]\ndrop = [\"bmi\", \"location\", \"employment_type\"]\n")
            .unwrap();
    assert!(!cfg.schema.numeric.iter().any(|(n, _)| n == "bmi"));
    assert!(!cfg.schema.categorical.iter().any(|(n, _)| n == "location"));
    assert!(cfg.schema.numeric.iter().any(|(n, _)| n == "age"));
    assert!(cfg.schema.drop.iter().any(|d| d == "bmi"));
    let e = Config::from_overlay(
        "[schema]\ndrop = [\"bmi\"]\n[schema.numeric]\nbmi = { min = 1, max = 2 }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("named twice"), "{e}");
}

/// Each cost is named when it is the bad one (a bad cost_false_positive was reported as
/// cost_false_negative with that key's valid value).
#[test]
fn each_threshold_cost_is_named() {
    for (key, v) in [
        ("cost_false_positive", "0"),
        ("cost_false_negative", "-1"),
        ("cost_false_positive", "inf"),
    ] {
        let e = Config::from_overlay(&format!("[threshold]\n{key} = {v}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("threshold.{key}")), "{e}");
    }
}

/// Drops across files follow the latest word on a name: a later file that replaces the
/// drop list without a feature an earlier file dropped makes it a feature again; a later
/// file that declares a feature an earlier one dropped makes it a feature (not "named
/// twice").
#[test]
fn drops_across_files_follow_the_latest_word() {
    let default = parse_table(DEFAULT_TOML, "default").unwrap();
    let user = parse_table("[schema]\ndrop = [\"bmi\"]\n", "user").unwrap();
    let layered = |later: &toml::Table| {
        let mut t = default.clone();
        merge(&mut t, user.clone());
        merge(&mut t, later.clone());
        resolve_drops(&mut t, &[&default, &user, later]);
        Config::from_table(t, &|_| "test".to_string()).unwrap()
    };
    let four = "[schema]\ndrop = [\"family_history_3\", \"employment_type\", \"insurance_hist_2\", \"insurance_hist_3\"]\n";
    let cfg = layered(&parse_table(four, "extra").unwrap());
    assert!(cfg.schema.numeric.iter().any(|(n, _)| n == "bmi"));
    assert!(!cfg.schema.drop.iter().any(|d| d == "bmi"));
    let again = parse_table("[schema.numeric]\nbmi = { min = 5, max = 90 }\n", "extra").unwrap();
    let cfg = layered(&again);
    assert!(
        cfg.schema
            .numeric
            .iter()
            .any(|(n, r)| n == "bmi" && r.min == 5.0)
    );
    assert!(!cfg.schema.drop.iter().any(|d| d == "bmi"));
    // The user file alone: bmi is gone.
    let mut t = default.clone();
    merge(&mut t, user.clone());
    resolve_drops(&mut t, &[&default, &user]);
    let cfg = Config::from_table(t, &|_| "test".to_string()).unwrap();
    assert!(!cfg.schema.numeric.iter().any(|(n, _)| n == "bmi"));
}
