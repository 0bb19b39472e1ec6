//! The production sink: PostgreSQL through the `postgres` crate. Rows go in with COPY inside
//! the same transaction as the delete of the date's old rows. Connection settings come from
//! the URL, then the usual `PG*` environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
//! PGDATABASE); the password never appears in messages or logs. TLS: see `pg_tls`.

use postgres::Client;

use super::pg_copy::PgDay;
use super::{DayWriter, PredictionRow, QuarantineRow, Sink};
use crate::error::{ClaimsError, Result};

pub use super::pg_url::{redact, without_password};

/// A prediction row's columns as text where SQLite keeps text (dates, JSON, times).
const ROW_COLUMNS: &str = "business_date::text, application_id, model_version, role, score, predicted_claim, threshold,
     top_reasons::text, run_id, to_char(scored_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

fn prediction_row(r: &postgres::Row) -> PredictionRow {
    PredictionRow {
        business_date: r.get(0),
        application_id: r.get(1),
        model_version: r.get(2),
        role: r.get(3),
        score: r.get(4),
        predicted_claim: r.get(5),
        threshold: r.get(6),
        top_reasons: r.get(7),
        run_id: r.get(8),
        scored_at: r.get(9),
    }
}

fn day(date: &str) -> Result<chrono::NaiveDate> {
    date.parse().map_err(|e| err(&format!("date '{date}'"), e))
}

/// Keys of PostgreSQL's advisory locks: the class of lock, then what it is on.
pub(super) const LOCK_CLASS: i32 = 0x636c_6169; // "clai"
pub(super) const LOCK_SCHEMA: i32 = -1;

/// Who holds the advisory lock on `day` (" (held by ..."), or "" if that cannot be read.
fn lock_holder(tx: &mut postgres::Transaction<'_>, day: i32) -> String {
    let row = tx.query_opt(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), \
         coalesce(to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid::int = $1 AND l.objid::int = $2 \
         LIMIT 1",
        &[&LOCK_CLASS, &day],
    );
    match row {
        Ok(Some(r)) => format!(
            " (held by server pid {} '{}' from {}, in a transaction since {} UTC)",
            r.get::<_, i32>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3)
        ),
        _ => String::new(),
    }
}

/// How long a statement waits for a table or row lock another session holds (ms).
const LOCK_TIMEOUT_MS: u32 = 600_000;

/// The same for a read (ms): a SELECT waits only behind an ALTER, TRUNCATE or VACUUM FULL,
/// and a wait the driver cannot interrupt must stay inside systemd's 90 s stop timeout, so
/// a stop signal is not ignored for ten minutes.
const READ_LOCK_TIMEOUT_MS: u32 = 60_000;

/// PostgreSQL prediction tables.
pub struct PgSink {
    client: Client,
    described: String,
    /// The `varchar(n)` bound of its application_id columns, if any.
    id_chars: Option<usize>,
}

pub(super) fn err(what: &str, e: impl std::error::Error + 'static) -> ClaimsError {
    // A right the role lacks on a table (SQLSTATE 42501): no retry mends it (exit 2).
    let code = (&e as &dyn std::error::Error)
        .downcast_ref::<postgres::Error>()
        .and_then(|p| p.code())
        .cloned();
    let denied = code == Some(postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    // A value longer than a column's varchar(n) (SQLSTATE 22001): the table, not the
    // moment, is at fault.
    let too_long = code == Some(postgres::error::SqlState::STRING_DATA_RIGHT_TRUNCATION);
    // The driver's own text is often generic ("error connecting to server"); the cause
    // ("Connection refused", "password authentication failed") is in its sources.
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(&format!(": {c_text}"));
        }
        cause = c.source();
    }
    if text.contains("lock timeout") {
        text.push_str(
            " (another session held a lock on the table past lock_timeout: see pg_locks; the URL's `options=-c lock_timeout=...` or the role's lock_timeout sets the wait)",
        );
    }
    if too_long {
        return ClaimsError::Usage(format!(
            "postgres sink: {what}: {text} (a column of the table is shorter than a value claims writes: make it text; no retry mends this)"
        ));
    }
    if denied {
        // The server names what was denied (a table, the schema, the database).
        let needs = if text.contains("for table") {
            "a scoring role needs SELECT, INSERT and DELETE on predictions and quarantine"
        } else {
            "a right the role lacks"
        };
        return ClaimsError::Usage(format!(
            "postgres sink: {what}: {text} ({needs}; no retry mends this)"
        ));
    }
    ClaimsError::Other(anyhow::anyhow!("postgres sink: {what}: {text}"))
}

/// [`err`] for connecting and setting up, where some failures are the setup's and no retry
/// mends them (exit 2, which the scheduler does not retry): authentication, a database or
/// role that does not exist, a missing right, a refused certificate, no `pg_hba` entry.
/// A refused or dropped connection stays a failure worth retrying (exit 1).
pub(super) fn setup_err(what: &str, e: postgres::Error) -> ClaimsError {
    use postgres::error::SqlState;
    let by_code = e.code().is_some_and(|c| {
        c.code().starts_with("28") // invalid authorization / password
            || *c == SqlState::INVALID_CATALOG_NAME // no such database
            || *c == SqlState::INSUFFICIENT_PRIVILEGE
    });
    // `err` already walks the causes into one text: classify that.
    match err(what, e) {
        ClaimsError::Other(x) => {
            let text = x.to_string();
            let by_text = [
                "invalid peer certificate",
                "certificate not valid",
                "password missing",
                "no pg_hba.conf entry",
                "server does not support TLS",
            ]
            .iter()
            .any(|m| text.contains(m));
            // The server's TLS alert about our own certificate (sslcert): it does not
            // trust the issuer, or finds the certificate bad or missing.
            let refused_ours = [
                "fatal alert: UnknownCA",
                "fatal alert: BadCertificate",
                "fatal alert: CertificateUnknown",
                "fatal alert: CertificateRequired",
                "fatal alert: CertificateExpired",
                "fatal alert: CertificateRevoked",
                "fatal alert: UnsupportedCertificate",
            ]
            .iter()
            .find(|m| text.contains(*m));
            if let Some(alert) = refused_ours {
                ClaimsError::Usage(format!(
                    "{text} (the server refused this client's certificate, sslcert: {}; a server that asks for a certificate must trust the CA that signed it)",
                    match alert.trim_start_matches("fatal alert: ") {
                        "UnknownCA" => "it does not trust its issuer",
                        "CertificateRequired" => "it requires one and none was given",
                        "CertificateExpired" => "it has expired",
                        "CertificateRevoked" => "it was revoked",
                        _ => "it is not acceptable",
                    }
                ))
            } else if by_code || by_text {
                ClaimsError::Usage(text)
            } else {
                ClaimsError::Other(x)
            }
        }
        other => other,
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl PgSink {
    /// Connects with `url` plus `PG*` defaults and creates the tables if needed.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, true)
    }

    /// Connects to read: tables that do not exist yet are an error, not created (viewing a
    /// sink must not change it).
    pub fn connect_to_read(url: &str) -> Result<Self> {
        Self::connect_with(url, false)
    }

    fn connect_with(url: &str, create: bool) -> Result<Self> {
        // More than one '@' before the host: the driver would split at the first one and
        // take the rest of the password for the host name (and print it).
        if let Some((_, rest)) = url.split_once("://")
            && let Some((auth, _)) = rest.rsplit_once('@')
            && auth.contains('@')
        {
            return Err(ClaimsError::Usage(format!(
                "postgres sink: bad URL '{}': more than one '@' before the host; an '@' in the password must be written %40",
                redact(url)
            )));
        }
        let (driver_url, tls) = super::pg_tls::split_url(url)?;
        let mut cfg: postgres::Config = driver_url.parse().map_err(|e: postgres::Error| {
            let hint = if url.matches('@').count() > 1 {
                " (an '@' in the password must be written %40)"
            } else {
                ""
            };
            // The driver's text is "invalid connection string"; what is wrong ("unknown
            // option `sslmod`", "invalid value for option `port`") is in its source.
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why.push_str(&format!(": {c}"));
                cause = c.source();
            }
            ClaimsError::Usage(format!(
                "postgres sink: bad URL '{}': {why}{hint}",
                redact(url)
            ))
        })?;
        // A host name with a space or other character no host name or address has is a
        // typo no retry mends (exit 2), not a failed lookup worth retrying (exit 1).
        for h in cfg.get_hosts() {
            if let postgres::config::Host::Tcp(name) = h
                && !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_:[]%".contains(c))
            {
                return Err(ClaimsError::Usage(format!(
                    "postgres sink: bad URL '{}': host '{name}' is not a host name or address",
                    redact(url)
                )));
            }
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("claims-ops");
        }
        // A server that stops answering is noticed instead of waited on for ever: the
        // connect timeout (which `connect` below stretches over the handshake), TCP
        // keepalives after a minute idle, and unacknowledged writes after a minute.
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(std::time::Duration::from_secs(30));
        }
        cfg.keepalives(true);
        if !driver_url.contains("keepalives_idle") {
            cfg.keepalives_idle(std::time::Duration::from_secs(60));
        }
        if cfg.get_tcp_user_timeout().is_none() {
            cfg.tcp_user_timeout(std::time::Duration::from_secs(60));
        }
        if cfg.get_hosts().is_empty() {
            cfg.host(&env("PGHOST").unwrap_or_else(|| "localhost".into()));
        }
        if let Some(p) = env("PGPORT").filter(|_| cfg.get_ports().is_empty()) {
            cfg.port(p.parse().map_err(|e| err(&format!("PGPORT '{p}'"), e))?);
        }
        if cfg.get_user().is_none() {
            cfg.user(
                &env("PGUSER")
                    .or_else(|| env("USER"))
                    .unwrap_or_else(|| "postgres".into()),
            );
        }
        if let Some(p) = env("PGPASSWORD").filter(|_| cfg.get_password().is_none()) {
            cfg.password(p);
        }
        if let Some(d) = env("PGDATABASE").filter(|_| cfg.get_dbname().is_none()) {
            cfg.dbname(&d);
        }
        let host = match cfg.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let described = format!(
            "postgres://{}@{}:{}/{}",
            cfg.get_user().unwrap_or(""),
            host,
            cfg.get_ports().first().copied().unwrap_or(5432),
            cfg.get_dbname().unwrap_or(cfg.get_user().unwrap_or(""))
        );
        let mut client =
            super::pg_connect::handshake(cfg, super::pg_tls::connector(&tls)?, &described)?;
        // Say whether the session is encrypted (prefer falls back to plain text quietly).
        let encrypted: bool = client
            .query_opt(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .ok()
            .flatten()
            .is_some_and(|r| r.get(0));
        let described = if encrypted {
            format!("{described} (TLS, sslmode {})", tls.mode.name())
        } else {
            format!("{described} (no TLS)")
        };
        let id_chars = super::pg_schema::ensure_tables(&mut client, &described, create)?;
        Ok(PgSink {
            client,
            described,
            id_chars,
        })
    }
}

/// Sets this transaction's lock_timeout to `ms` unless the session has one (the URL's
/// `options=-c lock_timeout=...`, or the role's or database's setting). Per transaction
/// (`SET LOCAL`), not as a startup option or a session `SET`: poolers (PgBouncer, Neon)
/// refuse startup options, and a session setting would outlive us on a pooled server.
fn bound_lock_waits_to(
    tx: &mut postgres::Transaction,
    ms: u32,
) -> std::result::Result<(), postgres::Error> {
    tx.query_opt(
        "SELECT set_config('lock_timeout', $1, true) WHERE current_setting('lock_timeout') = '0'",
        &[&ms.to_string()],
    )
    .map(|_| ())
}

/// [`bound_lock_waits_to`] the write's default, 10 minutes.
fn bound_lock_waits(tx: &mut postgres::Transaction) -> std::result::Result<(), postgres::Error> {
    bound_lock_waits_to(tx, LOCK_TIMEOUT_MS)
}

/// A quarantine row selected in table order.
fn quarantine_row(r: &postgres::Row) -> QuarantineRow {
    QuarantineRow {
        business_date: r.get(0),
        source_file: r.get(1),
        row_number: r.get(2),
        application_id: r.get(3),
        reason: r.get(4),
        raw: r.get(5),
        run_id: r.get(6),
    }
}

impl PgSink {
    /// A transaction for one read: a table lock held elsewhere (an ALTER, a VACUUM FULL)
    /// makes it wait at most a minute ([`READ_LOCK_TIMEOUT_MS`]) unless the session sets
    /// lock_timeout, instead of for ever.
    fn read(&mut self) -> Result<postgres::Transaction<'_>> {
        let mut tx = self.client.transaction().map_err(|e| err("read", e))?;
        bound_lock_waits_to(&mut tx, READ_LOCK_TIMEOUT_MS).map_err(|e| err("read", e))?;
        Ok(tx)
    }
}

impl Sink for PgSink {
    fn begin_day<'s>(
        &'s mut self,
        date: &str,
        expected: Option<Option<&str>>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<Box<dyn DayWriter + 's>> {
        let d = day(date)?;
        let mut tx = self.client.transaction().map_err(|e| err("begin", e))?;
        // A lock another session holds on the tables (an ALTER, a VACUUM FULL, a long
        // transaction on the date's rows) fails the run after lock_timeout instead of
        // holding a nightly job for ever.
        bound_lock_waits(&mut tx).map_err(|e| err("begin", e))?;
        // One writer per date at a time, whatever home or host it runs from: a second run
        // waits for the first to commit, then replaces its rows (without the lock both
        // runs' rows would be left, as neither DELETE sees the other's uncommitted COPY).
        let day = chrono::Datelike::num_days_from_ce(&d);
        // Polled rather than waited on inside the server, so a stop signal (or the console's
        // cancel) is seen while another run holds the date.
        let mut waiting = None;
        loop {
            let free: bool = tx
                .query_one(
                    "SELECT pg_try_advisory_xact_lock($1, $2)",
                    &[&LOCK_CLASS, &day],
                )
                .map_err(|e| err("lock", e))?
                .get(0);
            if free {
                break;
            }
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(ClaimsError::Other(anyhow::anyhow!(
                    "cancelled while waiting for another run writing {date} to {}",
                    self.described
                )));
            }
            let described = &self.described;
            let (since, limit, holder) = waiting.get_or_insert_with(|| {
                let holder = lock_holder(&mut tx, day);
                // As long as a table lock may be waited for (lock_timeout; 0 = no limit).
                let limit: f64 = tx
                    .query_one(
                        "SELECT EXTRACT(EPOCH FROM current_setting('lock_timeout')::interval)::float8",
                        &[],
                    )
                    .map_or(0.0, |r| r.get(0));
                tracing::warn!(
                    "another run is writing {date} to {described}{holder}: waiting for it to finish (at most lock_timeout, {limit} s), then replacing its rows"
                );
                (std::time::Instant::now(), limit, holder)
            });
            let waited = since.elapsed();
            if *limit > 0.0 && waited.as_secs_f64() > *limit {
                return Err(ClaimsError::Other(anyhow::anyhow!(
                    "another run has been writing {date} to {}{holder} for {} s, past lock_timeout: gave up waiting (a retry, or the scheduler's, tries again; the URL's `options=-c lock_timeout=...` or the role's lock_timeout sets the wait)",
                    self.described,
                    waited.as_secs()
                )));
            }
            // Short polls at first, then a calmer pace for a long wait.
            std::thread::sleep(std::time::Duration::from_millis(if waited.as_secs() < 10 {
                100
            } else {
                1000
            }));
        }
        // Holding the date now: its writer is what the caller checked.
        let now: Option<String> = tx
            .query_opt(super::DATE_WRITER_SQL, &[&d])
            .map_err(|e| err("read", e))?
            .map(|r| r.get(0));
        super::changed_since_checked(date, expected, now.as_deref())?;
        tx.execute("DELETE FROM predictions WHERE business_date = $1", &[&d])
            .map_err(|e| err("delete", e))?;
        tx.execute("DELETE FROM quarantine WHERE business_date = $1", &[&d])
            .map_err(|e| err("delete", e))?;
        Ok(Box::new(PgDay::new(tx, d)))
    }

    fn day_writer(&mut self, date: &str) -> Result<Option<String>> {
        let d = day(date)?;
        let row = self
            .read()?
            .query_opt(super::DATE_WRITER_SQL, &[&d])
            .map_err(|e| err("read", e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn day_run(&mut self, date: &str) -> Result<Option<(String, u64)>> {
        let d = day(date)?;
        let row = self
            .read()?
            .query_opt(super::DATE_RUN_SQL, &[&d])
            .map_err(|e| err("read", e))?;
        Ok(row.map(|r| (r.get(0), r.get::<_, i64>(1) as u64)))
    }

    fn read_day(&mut self, date: &str) -> Result<Vec<PredictionRow>> {
        let d = day(date)?;
        let rows = self
            .read()?
            .query(
                &format!(
                    "SELECT {ROW_COLUMNS} FROM predictions WHERE business_date = $1 ORDER BY role, application_id COLLATE \"C\""
                ),
                &[&d],
            )
            .map_err(|e| err("read", e))?;
        Ok(rows.iter().map(prediction_row).collect())
    }

    fn dates(&mut self) -> Result<Vec<String>> {
        let rows = self
            .read()?
            .query(&super::dates_sql("x::text"), &[])
            .map_err(|e| err("read", e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn champion_rows(
        &mut self,
        date: &str,
        limit: usize,
        id_part: Option<&str>,
    ) -> Result<(Vec<PredictionRow>, usize)> {
        let d = day(date)?;
        let total: i64 = self
            .read()?
            .query_one(
                "SELECT COUNT(*) FROM predictions WHERE business_date = $1 AND role = 'champion'",
                &[&d],
            )
            .map_err(|e| err("read", e))?
            .get(0);
        let part = id_part.unwrap_or("").to_lowercase();
        let rows = self
            .read()?
            .query(
                &format!(
                    "SELECT {ROW_COLUMNS} FROM predictions WHERE business_date = $1 AND role = 'champion'
                     AND strpos(lower(application_id), $2) > 0
                     ORDER BY score DESC, application_id COLLATE \"C\" LIMIT $3"
                ),
                &[&d, &part, &(limit as i64)],
            )
            .map_err(|e| err("read", e))?;
        Ok((rows.iter().map(prediction_row).collect(), total as usize))
    }

    fn champion_row(&mut self, date: &str, id: &str) -> Result<Option<PredictionRow>> {
        let d = day(date)?;
        let row = self
            .read()?
            .query_opt(
                &format!(
                    "SELECT {ROW_COLUMNS} FROM predictions WHERE business_date = $1 AND application_id = $2 AND role = 'champion'"
                ),
                &[&d, &id],
            )
            .map_err(|e| err("read", e))?;
        Ok(row.as_ref().map(prediction_row))
    }

    fn quarantine_of(&mut self, id: &str) -> Result<Vec<QuarantineRow>> {
        let rows = self
            .read()?
            .query(
                "SELECT business_date::text, source_file, row_number, application_id, reason, raw, run_id
                 FROM quarantine WHERE application_id = $1
                 ORDER BY business_date DESC, source_file COLLATE \"C\", row_number",
                &[&id],
            )
            .map_err(|e| err("read", e))?;
        Ok(rows.iter().map(quarantine_row).collect())
    }

    fn read_quarantine(&mut self, date: &str) -> Result<Vec<QuarantineRow>> {
        let d = day(date)?;
        let rows = self
            .read()?
            .query(
                "SELECT business_date::text, source_file, row_number, application_id, reason, raw, run_id
                 FROM quarantine WHERE business_date = $1 ORDER BY source_file COLLATE \"C\", row_number",
                &[&d],
            )
            .map_err(|e| err("read", e))?;
        Ok(rows.iter().map(quarantine_row).collect())
    }

    fn scores_on(&mut self, date: &str) -> Result<Vec<super::StoredScore>> {
        let d = day(date)?;
        let rows = self
            .read()?
            .query(
                "SELECT business_date::text, application_id, model_version, score, role FROM predictions
                 WHERE business_date = $1 ORDER BY application_id COLLATE \"C\", role",
                &[&d],
            )
            .map_err(|e| err("read", e))?;
        Ok(rows.iter().map(stored_score).collect())
    }

    fn scores_of(&mut self, ids: &[String]) -> Result<Vec<super::StoredScore>> {
        let rows = self
            .read()?
            .query(
                "SELECT business_date::text, application_id, model_version, score, role FROM predictions
                 WHERE application_id = ANY($1)
                 ORDER BY business_date, application_id COLLATE \"C\", role",
                &[&ids],
            )
            .map_err(|e| err("read", e))?;
        Ok(rows.iter().map(stored_score).collect())
    }

    fn describe(&self) -> String {
        self.described.clone()
    }

    fn id_chars(&self) -> Option<usize> {
        self.id_chars
    }
}

/// A `business_date, application_id, model_version, score, role` row as a stored score.
fn stored_score(r: &postgres::Row) -> super::StoredScore {
    super::StoredScore {
        business_date: r.get(0),
        application_id: r.get(1),
        model_version: r.get(2),
        score: r.get(3),
        champion: r.get::<_, String>(4) == "champion",
    }
}
