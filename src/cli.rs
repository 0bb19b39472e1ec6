//! The command line (clap derive): the contract in `GUIDE.md` section 2.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// claims-ops: train, score and watch an insurance claims model.
#[derive(Debug, Parser)]
#[command(name = "claims", version, about, long_about = None)]
pub struct Cli {
    /// Extra config file, laid over the defaults and the user config.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Home folder for the registry, database and logs (default: the platform data folder,
    /// ~/.local/share/claims-ops on Linux).
    #[arg(long, global = true, env = "CLAIMS_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print one JSON object summarising the result as the last line of stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Format of log lines on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// On a fresh home: make sample data, train, and print where everything went.
    Demo,
    /// Write synthetic applications in the reference schema.
    Generate {
        /// Number of rows.
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output CSV file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Share of applications that make a claim.
        #[arg(long, default_value_t = 0.16)]
        positive_rate: f64,
        /// Drift strength (0 = the generator's own reference distribution, which is not the seed
        /// file's: score generated files with a model trained on generated files); moves age,
        /// income, credit_score_1, location.
        #[arg(long, default_value_t = 0.0)]
        shift: f64,
        /// Share of labels flipped at random.
        #[arg(long, default_value_t = 0.005)]
        label_noise: f64,
        /// Leave out the claim_status column (as a day's new applications).
        #[arg(long)]
        no_label: bool,
        /// First application number [default: 1,000,000 x (seed mod 1000): files of fewer
        /// than 1,000,000 rows from seeds below 1000 do not share ids]; at most 10^15
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000_000_000_000))]
        id_offset: Option<usize>,
    },
    /// Run the training pipeline and register a new model version.
    Train {
        /// Labelled input files (CSV or Parquet); repeat for historical + new data.
        #[arg(long = "data", value_name = "FILE", required = true)]
        data: Vec<PathBuf>,
        /// Random-search candidates (1 to 100000, as search.iterations).
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        search_iters: Option<usize>,
        /// Cross-validation folds (2 to 20, as search.folds).
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=20))]
        folds: Option<usize>,
        /// none | weight | weight:W | undersample | undersample:R (alone: the config's
        /// imbalance.undersample_ratio)
        #[arg(long)]
        imbalance: Option<String>,
        /// Seed for splits, search and XGBoost (at most 9223372036854775807: XGBoost takes a
        /// signed 64-bit seed).
        #[arg(long, value_parser = clap::value_parser!(u64).range(..=i64::MAX as u64))]
        seed: Option<u64>,
    },
    /// Score a day's applications with the champion and write them to the predictions table;
    /// or, with --from/--to and --input-pattern, a range of dates (backfill).
    Predict {
        /// The day's applications (CSV or Parquet).
        #[arg(long = "data", value_name = "FILE", required_unless_present = "from", conflicts_with_all = ["from", "to", "input_pattern"])]
        data: Option<PathBuf>,
        /// Business date YYYY-MM-DD (default: today in the configured time zone).
        #[arg(long, conflicts_with_all = ["from", "to"])]
        date: Option<String>,
        /// sqlite:PATH or postgres://... (default: sqlite:HOME/claims.db).
        #[arg(long)]
        sink: Option<String>,
        /// Exit 5 when a drift alert is raised (the rows are still written).
        #[arg(long)]
        fail_on_drift: bool,
        /// Backfill: first business date.
        #[arg(long, requires_all = ["to", "input_pattern"])]
        from: Option<String>,
        /// Backfill: last business date (inclusive).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Backfill: input file per date, with {date} for YYYY-MM-DD (a relative path is
        /// relative to the current folder, not to the home as the scheduler's pattern is).
        #[arg(long, requires = "from")]
        input_pattern: Option<String>,
        /// Replace a date that an earlier run scored from a file with other contents
        /// (without it, that is refused; the same contents under any name go ahead); in a
        /// backfill, also rescore dates already done.
        #[arg(long)]
        force: bool,
    },
    /// Show the drift measured for a business date.
    Drift {
        /// Business date YYYY-MM-DD (default: today in the configured time zone).
        #[arg(long)]
        date: Option<String>,
        /// Exit 5 when the date has a drift alert.
        #[arg(long)]
        fail_on_drift: bool,
    },
    /// One application's stored scores and the reasons behind them (what a claims handler
    /// asks about): every date it was scored on, or one date.
    Explain {
        /// The application id (exact; when none matches, the ids containing it are listed).
        id: String,
        /// Business date YYYY-MM-DD (faster on a large table).
        #[arg(long)]
        date: Option<String>,
        /// Where the predictions were written (default as for predict).
        #[arg(long)]
        sink: Option<String>,
    },
    /// Record labels that arrived later (application_id, claim_status) and show realised
    /// performance per business date.
    Feedback {
        /// CSV or Parquet with the id and label columns.
        #[arg(long = "data", value_name = "FILE")]
        data: PathBuf,
        /// Where the predictions were written (default as for predict).
        #[arg(long)]
        sink: Option<String>,
    },
    /// Compare champion and challenger on the same held-out rows and apply the promotion gate.
    Compare {
        /// Champion version, as 3 or v3 (default: the champion alias).
        #[arg(long, value_parser = model_version)]
        champion: Option<u32>,
        /// Challenger version, as 3 or v3 (default: the challenger alias).
        #[arg(long, value_parser = model_version)]
        challenger: Option<u32>,
    },
    /// Make VERSION the champion (recorded with who, when and why).
    Promote {
        /// The model version, as 3 or v3.
        #[arg(value_parser = model_version)]
        version: u32,
        /// Why (kept in the audit trail). Required when the gate refused this version or it
        /// was never compared with the current champion.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Move the champion back to the version it replaced (again: to the one before that).
    Rollback {
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "manual rollback")]
        reason: String,
    },
    /// List model versions and their aliases.
    Models {
        /// Check every artifact's sha256 against its manifest (exit 1 if any differs).
        #[arg(long)]
        verify: bool,
    },
    /// List recent runs, or show one run's stages, timings and error.
    Runs {
        /// A run id to show in full.
        run_id: Option<String>,
        /// How many runs to list (1 to 1000000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        limit: u64,
    },
    /// The built-in scheduler, and units for cron or systemd.
    Schedule {
        /// What to do.
        #[command(subcommand)]
        action: ScheduleAction,
    },
    /// The operations console (also `claims console`, or no command on a terminal).
    #[command(visible_alias = "console")]
    Tui,
    /// Print where the user config file is read from.
    ConfigPath,
}

impl Command {
    /// The command's name as typed (`schedule` with its action), for JSON summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo => "demo",
            Command::Generate { .. } => "generate",
            Command::Train { .. } => "train",
            Command::Predict { .. } => "predict",
            Command::Drift { .. } => "drift",
            Command::Feedback { .. } => "feedback",
            Command::Explain { .. } => "explain",
            Command::Compare { .. } => "compare",
            Command::Promote { .. } => "promote",
            Command::Rollback { .. } => "rollback",
            Command::Models { .. } => "models",
            Command::Runs { .. } => "runs",
            Command::Schedule { action } => match action {
                ScheduleAction::Run => "schedule-run",
                ScheduleAction::Status => "schedule-status",
                ScheduleAction::Print { .. } => "schedule-print",
                ScheduleAction::Trigger { .. } => "schedule-trigger",
            },
            Command::Tui => "tui",
            Command::ConfigPath => "config-path",
        }
    }
}

/// Scheduler actions.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Run the scheduler until SIGTERM/SIGINT (catches up missed runs after downtime).
    Run,
    /// Next due time and last outcome of each job.
    Status,
    /// Print crontab lines or systemd units that run the same jobs.
    #[command(group(clap::ArgGroup::new("format").required(true).args(["cron", "systemd"])))]
    Print {
        /// Crontab lines.
        #[arg(long)]
        cron: bool,
        /// systemd service and timer units.
        #[arg(long)]
        systemd: bool,
        /// Write the unit files into this folder instead of printing them (with --systemd).
        #[arg(long, conflicts_with = "cron")]
        out_dir: Option<PathBuf>,
        /// The account the systemd services run as (`User=`); without it a system-wide
        /// service runs as root.
        #[arg(long, conflicts_with = "cron", value_name = "NAME")]
        user: Option<String>,
    },
    /// Run one job now as the scheduler would (input discovery, retries, hooks); cron and
    /// systemd call this.
    Trigger {
        /// train or predict.
        job: String,
        /// Business date (default: the date of the job's latest scheduled time, in the
        /// schedule's time zone, so a timer catching up a missed run scores the missed day).
        #[arg(long)]
        date: Option<String>,
    },
}

/// A model version as the tool prints it (`v3`) or as a bare number (`3`).
fn model_version(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix(['v', 'V']).unwrap_or(s);
    match digits.parse::<u32>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a model version: expected a number from `claims models`, as 3 or v3"
        )),
    }
}
