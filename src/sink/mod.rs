//! Prediction tables: where a day's scores and quarantined rows are written. Two sinks
//! with the same contract (`GUIDE.md` section 2): SQLite (embedded default) and PostgreSQL.
//! A write replaces the business date's rows (every role: a rerun without shadow mode
//! leaves no stale challenger rows) and its quarantine rows, in one transaction: a crash
//! leaves the old rows or the new ones.
//! Table and column names are fixed identifiers; values always go through parameters.

mod pg_connect;
mod pg_copy;
mod pg_schema;
mod pg_tls;
mod pg_url;
pub mod postgres;
pub mod sqlite;

use std::path::Path;

use serde::Serialize;

use crate::error::{ClaimsError, Result};

/// One scored application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRow {
    /// Business date, YYYY-MM-DD.
    pub business_date: String,
    /// Application id.
    pub application_id: String,
    /// Model version that scored it.
    pub model_version: i64,
    /// "champion" or "challenger".
    pub role: String,
    /// Claim probability.
    pub score: f64,
    /// score >= threshold.
    pub predicted_claim: bool,
    /// The model's operating threshold.
    pub threshold: f64,
    /// JSON list of the top reasons.
    pub top_reasons: String,
    /// The inference run.
    pub run_id: String,
    /// When scored (UTC, RFC 3339).
    pub scored_at: String,
}

/// One row that failed the contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineRow {
    /// Business date.
    pub business_date: String,
    /// File it came from.
    pub source_file: String,
    /// 1-based data row.
    pub row_number: i64,
    /// Its id, where one could be read or derived.
    pub application_id: Option<String>,
    /// Every reason it failed.
    pub reason: String,
    /// The row as written.
    pub raw: String,
    /// The inference run.
    pub run_id: String,
}

/// A batch of one model's predictions for one date: the fields the rows share once, then
/// one entry per row (ids borrowed from the scored data, nothing copied per row).
pub struct PredictionBatch<'a> {
    /// Business date, YYYY-MM-DD.
    pub business_date: &'a str,
    /// Model version that scored the rows.
    pub model_version: i64,
    /// "champion" or "challenger".
    pub role: &'a str,
    /// The model's operating threshold (`predicted_claim` is score >= threshold).
    pub threshold: f64,
    /// The inference run.
    pub run_id: &'a str,
    /// When scored (UTC, RFC 3339).
    pub scored_at: &'a str,
    /// Application ids.
    pub ids: &'a [String],
    /// Claim probabilities, one per id.
    pub scores: &'a [f64],
    /// JSON lists of the top reasons, one per id.
    pub reasons: &'a [String],
}

impl PredictionBatch<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Row `i` as a table row.
    pub fn row(&self, i: usize) -> PredictionRow {
        PredictionRow {
            business_date: self.business_date.into(),
            application_id: self.ids[i].clone(),
            model_version: self.model_version,
            role: self.role.into(),
            score: self.scores[i],
            predicted_claim: self.scores[i] >= self.threshold,
            threshold: self.threshold,
            top_reasons: self.reasons[i].clone(),
            run_id: self.run_id.into(),
            scored_at: self.scored_at.into(),
        }
    }
}

/// One business date being replaced: an open transaction that has already deleted the
/// date's old rows. Batches stream in; nothing is visible to
/// readers until [`DayWriter::commit`]; dropping the writer without committing rolls back.
pub trait DayWriter {
    /// Adds a batch of predictions.
    fn predictions(&mut self, batch: &PredictionBatch) -> Result<()>;
    /// Adds the quarantine rows and commits.
    fn commit(self: Box<Self>, quarantine: &[QuarantineRow]) -> Result<()>;
}

/// One stored score, as feedback joins it to a label.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScore {
    /// Business date it was scored for.
    pub business_date: String,
    /// Application id.
    pub application_id: String,
    /// Model version that scored it.
    pub model_version: i64,
    /// Claim probability.
    pub score: f64,
    /// Scored by the champion (else by a challenger in shadow mode).
    pub champion: bool,
}

/// A prediction table.
pub trait Sink: Send {
    /// Starts replacing `date`'s rows (every role) and its quarantine rows. A sink that
    /// has to wait for another writer of `date` gives up when `cancel` is set. With
    /// `expected` (`Some(run)`: the run whose rows the caller checked it may replace, `None`
    /// inside: none), it refuses when, once it holds the date, another run wrote it since.
    fn begin_day<'s>(
        &'s mut self,
        date: &str,
        expected: Option<Option<&str>>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<Box<dyn DayWriter + 's>>;
    /// The rows of `date`, ordered by role then application id.
    fn read_day(&mut self, date: &str) -> Result<Vec<PredictionRow>>;
    /// The run that wrote `date`'s champion rows (`None` when it has none): one row read,
    /// no count (a backfill asks it for every date of its range).
    fn day_writer(&mut self, date: &str) -> Result<Option<String>>;
    /// The run that wrote `date`'s champion rows, and how many there are (`None` when the
    /// date has none). A date is written whole by one run, so there is one.
    fn day_run(&mut self, date: &str) -> Result<Option<(String, u64)>>;
    /// The quarantine rows of `date`, ordered by file and row.
    fn read_quarantine(&mut self, date: &str) -> Result<Vec<QuarantineRow>>;
    /// Every quarantine row of application `id`, newest date first.
    fn quarantine_of(&mut self, id: &str) -> Result<Vec<QuarantineRow>>;
    /// Every stored score of these applications on any date, by the champion and by a
    /// shadow challenger.
    fn scores_of(&mut self, ids: &[String]) -> Result<Vec<StoredScore>>;
    /// Every stored score of business date `date` (champion and shadow challenger rows):
    /// one date's rows by key, for measuring a date again without reading every date.
    fn scores_on(&mut self, date: &str) -> Result<Vec<StoredScore>>;
    /// The dates with predictions, oldest first.
    fn dates(&mut self) -> Result<Vec<String>>;
    /// A date's champion rows, highest score first (then by id), at most `limit`, only ids
    /// containing `id_part` (any case) when given; and how many champion rows the date has.
    fn champion_rows(
        &mut self,
        date: &str,
        limit: usize,
        id_part: Option<&str>,
    ) -> Result<(Vec<PredictionRow>, usize)>;
    /// The champion row of application `id` (exactly) on `date`, if stored.
    fn champion_row(&mut self, date: &str, id: &str) -> Result<Option<PredictionRow>>;
    /// Where the sink writes, without credentials.
    fn describe(&self) -> String;
    /// The most characters its application_id columns hold, when they have a bound (a
    /// PostgreSQL `varchar(n)`): longer ids are quarantined before scoring.
    fn id_chars(&self) -> Option<usize> {
        None
    }
    /// Finishes the sink's work and closes it (SQLite: checkpoints its write-ahead log).
    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The dates of the predictions table, oldest first, by one index seek per date (the
/// primary key leads with business_date; DISTINCT would walk every row's index entry, a
/// year of million-row days). `{date}` is the date as the dialect returns text.
const DATES_SQL: &str = "WITH RECURSIVE d(x) AS (
   SELECT MIN(business_date) FROM predictions
   UNION ALL
   SELECT (SELECT MIN(business_date) FROM predictions WHERE business_date > d.x)
   FROM d WHERE d.x IS NOT NULL)
 SELECT {date} FROM d WHERE x IS NOT NULL";

/// [`DATES_SQL`] with the date selected as `column`.
fn dates_sql(column: &str) -> String {
    DATES_SQL.replace("{date}", column)
}

/// The run that wrote a date's champion rows (a date is written whole by one run). `$1` is
/// the date; SQLite reads `$1` as its first parameter too, so both sinks share the text.
const DATE_WRITER_SQL: &str =
    "SELECT run_id FROM predictions WHERE business_date = $1 AND role = 'champion' LIMIT 1";

/// [`DATE_WRITER_SQL`] with the number of the date's champion rows.
const DATE_RUN_SQL: &str = "SELECT run_id, (SELECT COUNT(*) FROM predictions WHERE business_date = $1 AND role = 'champion')
     FROM predictions WHERE business_date = $1 AND role = 'champion' LIMIT 1";

/// The refusal when `date` was written by run `now` (none: emptied) after this run checked
/// it held `expected`'s rows: two runs of one date at the same moment.
pub(crate) fn changed_since_checked(
    date: &str,
    expected: Option<Option<&str>>,
    now: Option<&str>,
) -> Result<()> {
    match expected {
        Some(e) if e != now => Err(ClaimsError::Usage(format!(
            "another run ({}) wrote {date} while this run was starting; nothing was written by this run: look at `claims runs`, and run again (with --force to replace that run's rows)",
            now.unwrap_or("one that removed its rows")
        ))),
        _ => Ok(()),
    }
}

/// Opens the sink named by `url` (`sqlite:PATH` or `postgres://...`); empty = the home DB.
pub fn open(url: &str, home: &Path) -> Result<Box<dyn Sink>> {
    open_with(url, home, true)
}

/// [`open`] for reading only: a sink's tables are not created when missing (nor, for
/// SQLite, its file: a mistyped path is an error, not a new empty database).
pub fn open_to_read(url: &str, home: &Path) -> Result<Box<dyn Sink>> {
    open_with(url, home, false)
}

fn open_with(url: &str, home: &Path, create: bool) -> Result<Box<dyn Sink>> {
    if url.is_empty() {
        let db = home.join("claims.db");
        // Reading the home's table (`explain` without --sink) creates no home.
        if !create && !db.is_file() {
            return Err(ClaimsError::Usage(format!(
                "home '{}' has no claims.db: nothing was scored there (check --home or CLAIMS_HOME, or give --sink)",
                home.display()
            )));
        }
        return Ok(Box::new(sqlite::SqliteSink::open(&db)?));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(ClaimsError::Usage(
                "sink 'sqlite:' (--sink, or inference.sink in a config): give a path, e.g. sqlite:/data/claims.db".into(),
            ));
        }
        // A typo in a folder name should not quietly start a new database elsewhere.
        if let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(ClaimsError::Usage(format!(
                "sink 'sqlite:{path}' (--sink, or inference.sink in a config): folder '{}' does not exist (create it first)",
                dir.display()
            )));
        }
        if !create {
            return Ok(Box::new(sqlite::SqliteSink::open_to_read(Path::new(path))?));
        }
        return Ok(Box::new(sqlite::SqliteSink::open(Path::new(path))?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(if create {
            postgres::PgSink::connect(url)?
        } else {
            postgres::PgSink::connect_to_read(url)?
        }));
    }
    Err(ClaimsError::Usage(format!(
        "sink '{}' (--sink, or inference.sink in a config): expected sqlite:PATH or postgres://...",
        postgres::redact(url)
    )))
}
