//! The SQLite database under the home folder (`claims.db`): schema and connection settings.
//! One file holds runs, model versions, aliases and their history, so the CLI, the
//! scheduler and the TUI all see the same state.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{ClaimsError, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, args TEXT, error TEXT, summary TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS run_stages(
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, stage TEXT NOT NULL, started_at TEXT NOT NULL,
  duration_ms INTEGER NOT NULL, rows_in INTEGER, rows_out INTEGER, note TEXT,
  PRIMARY KEY(run_id, seq));
CREATE TABLE IF NOT EXISTS models(
  version INTEGER PRIMARY KEY, created_at TEXT NOT NULL, run_id TEXT NOT NULL, dir TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL, test_roc_auc REAL, imbalance TEXT, threshold REAL);
CREATE TABLE IF NOT EXISTS aliases(
  alias TEXT PRIMARY KEY, version INTEGER NOT NULL REFERENCES models(version), updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alias_history(
  id INTEGER PRIMARY KEY AUTOINCREMENT, alias TEXT NOT NULL, from_version INTEGER,
  to_version INTEGER NOT NULL, at TEXT NOT NULL, by_user TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drift(
  business_date TEXT NOT NULL, run_id TEXT NOT NULL, model_version INTEGER NOT NULL, feature TEXT NOT NULL,
  metric TEXT NOT NULL, value REAL, threshold REAL, breached INTEGER NOT NULL, level TEXT NOT NULL,
  PRIMARY KEY(business_date, feature, metric));
CREATE TABLE IF NOT EXISTS performance(
  business_date TEXT NOT NULL, model_version INTEGER NOT NULL, rows INTEGER NOT NULL, positives INTEGER NOT NULL,
  roc_auc REAL, pr_auc REAL, log_loss REAL, brier REAL, recorded_at TEXT NOT NULL,
  PRIMARY KEY(business_date, model_version));
CREATE TABLE IF NOT EXISTS labels(
  application_id TEXT PRIMARY KEY, claim_status INTEGER NOT NULL CHECK (claim_status IN (0, 1)),
  source_file TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_state(job TEXT PRIMARY KEY, last_fire TEXT NOT NULL,
  last_outcome TEXT, last_run_id TEXT, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions(id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, run_id TEXT,
  champion INTEGER NOT NULL, challenger INTEGER NOT NULL, promote INTEGER NOT NULL, reasons TEXT NOT NULL, report TEXT,
  gate TEXT);
";

/// Columns added to a table after it first shipped: (table, column, type).
const ADDED_COLUMNS: [(&str, &str, &str); 6] = [
    ("decisions", "gate", "TEXT"),
    ("runs", "replaced_by", "TEXT"),
    // The exit code the command gave (NULL: still running, or killed before it could say).
    ("runs", "exit_code", "INTEGER"),
    // The stage a run is in and when it started it (a killed run's last sign of life).
    ("runs", "current_stage", "TEXT"),
    ("runs", "current_stage_at", "TEXT"),
    // When a running run last said it was alive (every few seconds, in any stage).
    ("runs", "alive_at", "TEXT"),
];

/// Opens (creating if needed) the database at `path` with WAL and a busy timeout, so a
/// reader and a writer in different processes do not block each other. A database this
/// user cannot write (a production home looked at by another account) opens read-only:
/// reading commands work, and a write fails with [`sql`]'s "read-only" message.
pub fn open(path: &Path) -> Result<Connection> {
    open_with(path, true)
}

/// [`open`] without the home's tables: for a SQLite sink file other than the home database,
/// which should hold the predictions tables and nothing else.
pub fn open_plain(path: &Path) -> Result<Connection> {
    open_with(path, false)
}

fn open_with(path: &Path, home_tables: bool) -> Result<Connection> {
    // The home database, whichever way it is opened (as the registry, or as the default
    // sink by `explain`, a backfill or the console).
    if home_tables || path.file_name().is_some_and(|n| n == "claims.db") {
        refuse_emptied(path)?;
    }
    let risk = match path.parent() {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| ClaimsError::io(dir, e))?;
            warn_once_if_at_risk(dir)
        }
        None => None,
    };
    let setup = || -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // Only takes effect on a new, empty database (before WAL is switched on).
        conn.pragma_update(None, "page_size", 16384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        if !home_tables {
            return Ok(conn);
        }
        conn.execute_batch(SCHEMA)?;
        for (table, column, ty) in ADDED_COLUMNS {
            let has = conn
                .prepare(&format!(
                    "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
                ))?
                .exists([column])?;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))?;
            }
        }
        Ok(conn)
    };
    match setup() {
        Ok(conn) => Ok(conn),
        Err(e) if cannot_write(&e) && path.is_file() => open_read_only(path, e),
        // SQLite writes the file (and its -wal/-shm files beside it) to start a home.
        // The folder named: a sink's may be another than the home's; a read-only mount
        // is said as such (no permission change helps there).
        Err(e) if cannot_write(&e) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let why = match read_only_mount(dir) {
                true => "is on a read-only file system: put the database elsewhere".to_string(),
                false => format!(
                    "must be writable by this user ({})",
                    crate::registry::current_user()
                ),
            };
            Err(ClaimsError::Usage(format!(
                "{}: cannot create the database ({e}); its folder {} {why}",
                path.display(),
                dir.display()
            )))
        }
        // A sink path that names some other file (a CSV, say): a usage error, not a
        // registry failure a scheduler would retry.
        Err(e)
            if !home_tables && e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) =>
        {
            Err(ClaimsError::Usage(format!(
                "{}: not a SQLite database ({e}); check the sink path",
                path.display()
            )))
        }
        Err(e) => Err(ClaimsError::Registry(match (risk, disk_full(path, &e)) {
            (_, Some(full)) => format!("{}: {e} ({full})", path.display()),
            (Some(why), None) => format!("{}: {e} ({why})", path.display()),
            (None, None) => format!("{}: {e}", path.display()),
        })),
    }
}

/// Whether folder `dir` is on a file system mounted read-only.
fn read_only_mount(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statvfs.
    unsafe { libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0 }
}

/// For an I/O error that a full disk explains (SQLite says "disk I/O error" when it cannot
/// even make its `-shm` file): says so, with the room left, so a 7pm reader does not hunt
/// for a broken disk. `None` when the file system has room (64 MiB or more) or cannot be asked.
pub fn disk_full(path: &Path, e: &rusqlite::Error) -> Option<String> {
    use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
    if !matches!(e.sqlite_error_code(), Some(DiskFull | SystemIoFailure)) {
        return None;
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let free = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
    (free < 64 << 20).then(|| {
        format!(
            "the file system holding {} has {} KiB free: it is full; free some space and run again",
            dir.display(),
            free >> 10
        )
    })
}

/// A home database emptied to 0 bytes or gone (a full disk, a half-finished restore)
/// beside model folders: refused, instead of a fresh schema that makes the home look new
/// (and the next training move its models aside).
fn refuse_emptied(path: &Path) -> Result<()> {
    let state = match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == 0 => "is empty (0 bytes)",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing",
        _ => return Ok(()),
    };
    let models = path.with_file_name("models");
    let mut versions: Vec<String> = std::fs::read_dir(&models)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| {
                    n.len() > 1 && n.starts_with('v') && n[1..].bytes().all(|b| b.is_ascii_digit())
                })
                .collect()
        })
        .unwrap_or_default();
    if versions.is_empty() {
        return Ok(());
    }
    versions.sort_by_key(|n| n[1..].parse::<u64>().unwrap_or(0));
    Err(ClaimsError::Registry(format!(
        "{}: the database {state}, but {} holds model folders {}: it was truncated, removed or replaced; restore it from a backup (nothing was changed)",
        path.display(),
        models.display(),
        versions.join(", ")
    )))
}

/// Whether SQLite files in `dir` are at risk there (a network or FUSE mount). Looked up
/// (and warned about) once per folder and process: the console opens the database every
/// second, and the mount table need not be read each time.
fn warn_once_if_at_risk(dir: &Path) -> Option<String> {
    type Seen = Vec<(std::path::PathBuf, Option<String>)>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, why)) = seen.iter().find(|(d, _)| d == dir) {
        return why.clone();
    }
    let why = crate::registry::mounts::sqlite_risk(dir);
    if let Some(w) = &why {
        tracing::warn!("{w}");
    }
    seen.push((dir.to_path_buf(), why.clone()));
    why
}

fn cannot_write(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// Opens an existing database that this user cannot write, for reading. SQLite's
/// read-only mode still needs the `-shm` file: it exists while a writer has the database
/// open, and `mode=ro` then sees the writer's committed work. With no writer (no `-wal`
/// file) and a folder this user cannot write, the file is opened as immutable: it is
/// complete as it stands. A leftover `-wal` without a readable `-shm` is refused rather
/// than read without the commits it holds.
fn open_read_only(path: &Path, first: rusqlite::Error) -> Result<Connection> {
    use rusqlite::OpenFlags;
    let refuse = |e: &dyn std::fmt::Display| {
        ClaimsError::Usage(format!(
            "{}: cannot open the database ({first}; read-only: {e}); the home folder and its files must be readable, and writable to run or change anything, by this user ({})",
            path.display(),
            crate::registry::current_user()
        ))
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    // The path goes into a URI: escape what a URI would read as syntax.
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'%' | b'?' | b'#' => uri.push_str(&format!("%{b:02X}")),
            _ => uri.push(b as char),
        }
    }
    let try_open = |query: &str| -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(format!("{uri}?{query}"), flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        shadow_missing_tables(&conn)?;
        Ok(conn)
    };
    match try_open("mode=ro") {
        Ok(c) => Ok(c),
        Err(e) if cannot_write(&e) && !wal_file(path).exists() => {
            try_open("mode=ro&immutable=1").map_err(|e| refuse(&e))
        }
        Err(e) => Err(refuse(&e)),
    }
}

/// A database written by an older version may lack a table; a read-only connection cannot
/// create it, so an empty temporary table of that name stands in (queries read "nothing
/// recorded"). Only missing tables get one: a temporary table would hide a real one.
fn shadow_missing_tables(conn: &Connection) -> rusqlite::Result<()> {
    for create in SCHEMA.split(';').map(str::trim).filter(|c| !c.is_empty()) {
        let name = create
            .trim_start_matches("CREATE TABLE IF NOT EXISTS")
            .split('(')
            .next()
            .unwrap_or_default()
            .trim();
        let present: i64 = conn.query_row(
            "SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )?;
        if present == 0 {
            conn.execute_batch(&create.replacen("CREATE TABLE", "CREATE TEMP TABLE", 1))?;
        }
    }
    Ok(())
}

fn wal_file(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("-wal");
    s.into()
}

/// Maps a SQLite error into the registry error; a write refused because the database was
/// opened read-only (see [`open`]) is a usage error that says so.
pub fn sql(e: rusqlite::Error) -> ClaimsError {
    // Another process held SQLite's write lock past the busy timeout: worth a retry (a
    // registry error is not retried).
    if matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    ) {
        return ClaimsError::Other(anyhow::anyhow!(
            "database: {e} (another process held its write lock for more than 30 s)"
        ));
    }
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) {
        return ClaimsError::Usage(format!(
            "database: {e}: this command changes the home, which this user ({}) can only read",
            crate::registry::current_user()
        ));
    }
    ClaimsError::Registry(format!("database: {e}"))
}

/// The current UTC time as RFC 3339 with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database from an older version (no `schedule_state`, one run) opened the way a
    /// user who cannot write the home opens it: the run is read from the real table, the
    /// missing table reads as empty, and a write says the home is read-only.
    #[test]
    fn read_only_open_reads_an_older_database_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            c.execute_batch(
                "CREATE TABLE runs(run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
                 started_at TEXT NOT NULL, finished_at TEXT, args TEXT, error TEXT, summary TEXT, pid INTEGER);
                 INSERT INTO runs VALUES ('r1', 'train', 'succeeded', 't', NULL, NULL, NULL, NULL, NULL);",
            )
            .unwrap();
        }
        let refused = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            None,
        );
        let conn = open_read_only(&path, refused).unwrap();
        let runs: i64 = conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 1, "the real runs table, not an empty stand-in");
        let state = crate::schedule::state(&conn, crate::schedule::Job::Predict).unwrap();
        assert_eq!(state.last_fire, None);
        let err = conn
            .execute("DELETE FROM runs", [])
            .map_err(sql)
            .unwrap_err();
        assert!(
            matches!(err, ClaimsError::Usage(ref m) if m.contains("can only read")),
            "{err}"
        );
    }
}
