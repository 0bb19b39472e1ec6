//! One run of a job at a time: an exclusive OS file lock on `HOME/locks/JOB.lock`, held by
//! the running process. The kernel drops it when the process dies (even by kill -9), so a
//! crash never leaves a stale lock; the file also records the holder's pid and start time
//! for the message a second process prints (exit 4).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{ClaimsError, Result};

/// A held lock; released on drop.
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock for `job` or fails with [`ClaimsError::Locked`] naming the holder.
    pub fn acquire(home: &Path, job: &str) -> Result<RunLock> {
        // A home this user cannot write is a setup problem (exit 2), not worth a retry.
        let unwritable = |p: &Path, e: std::io::Error| match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                ClaimsError::Usage(format!(
                    "{}: cannot create the run lock ({e}); the home folder and its files must be writable by this user ({})",
                    p.display(),
                    crate::registry::current_user()
                ))
            }
            _ => ClaimsError::io(p, e),
        };
        let dir = home.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| unwritable(&dir, e))?;
        let path = dir.join(format!("{job}.lock"));
        // Never through a link: the holder's line is written into the file, and a link
        // planted in the home would have it overwrite whatever the link names.
        let mut file = std::os::unix::fs::OpenOptionsExt::custom_flags(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            libc::O_NOFOLLOW,
        )
        .open(&path)
        .map_err(|e| unwritable(&path, e))?;
        // A console or `runs` looking (`held`: a shared lock for microseconds) must not
        // turn a run away: a refusal stands only after 200 ms of trying (room for a
        // looker descheduled on a loaded machine).
        let mut attempt = file.try_lock();
        for _ in 0..40 {
            if !matches!(attempt, Err(std::fs::TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            attempt = file.try_lock();
        }
        match attempt {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(ClaimsError::Locked(format!(
                    "{job} is already running ({}); lock file {}",
                    if holder.is_empty() {
                        "holder unknown"
                    } else {
                        holder
                    },
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(ClaimsError::io(&path, e)),
        }
        let info = format!(
            "pid {} since {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0).map_err(|e| ClaimsError::io(&path, e))?;
        file.rewind().map_err(|e| ClaimsError::io(&path, e))?;
        file.write_all(info.as_bytes())
            .map_err(|e| ClaimsError::io(&path, e))?;
        file.flush().map_err(|e| ClaimsError::io(&path, e))?;
        Ok(RunLock { file })
    }
}

impl RunLock {
    /// Whether a live process holds `job`'s lock, found without taking it: a shared lock
    /// is tried on a read-only handle and let go at once, and the holder's pid and time in
    /// the file are left as they are. (Taking the lock to look, as before, rewrote them.)
    /// A run starting in that moment retries its lock for 200 ms, so it is not turned
    /// away with exit 4.
    pub fn held(home: &Path, job: &str) -> bool {
        let path = home.join("locks").join(format!("{job}.lock"));
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(std::fs::TryLockError::WouldBlock) => true,
            // Cannot tell: say held, so nothing is declared dead on a guess.
            Err(std::fs::TryLockError::Error(_)) => true,
        }
    }
}

/// A running built-in scheduler's mark on its home: a shared lock on
/// `HOME/locks/scheduler.lock`, held while `schedule run` runs (several may run; each
/// holds its share). The kernel drops it with the process.
pub struct Presence {
    _file: File,
}

/// The presence lock's file.
fn presence_path(home: &Path) -> std::path::PathBuf {
    home.join("locks").join("scheduler.lock")
}

impl Presence {
    /// Marks a scheduler as running on `home` until the value is dropped.
    pub fn mark(home: &Path) -> Result<Presence> {
        let dir = home.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| ClaimsError::io(&dir, e))?;
        let path = presence_path(home);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ClaimsError::io(&path, e))?;
        file.lock_shared().map_err(|e| ClaimsError::io(&path, e))?;
        Ok(Presence { _file: file })
    }

    /// Whether a scheduler runs on `home` now (tried with an exclusive lock, let go at
    /// once; a process that cannot tell says no).
    pub fn running(home: &Path) -> bool {
        let Ok(file) = File::open(presence_path(home)) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => false,
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock file that is a link (planted in the home) is not followed: the file it
    /// names keeps its contents.
    #[test]
    fn a_lock_file_that_is_a_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.txt");
        std::fs::write(&target, "KEEP").unwrap();
        std::fs::create_dir_all(dir.path().join("locks")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("locks/predict.lock")).unwrap();
        assert!(RunLock::acquire(dir.path(), "predict").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "KEEP");
    }

    #[test]
    fn second_holder_is_refused_with_the_first_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunLock::acquire(dir.path(), "train").unwrap();
        let e = RunLock::acquire(dir.path(), "train").err().unwrap();
        assert_eq!(e.exit_code(), crate::error::EXIT_LOCKED);
        assert!(
            e.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        let _other_job = RunLock::acquire(dir.path(), "predict").unwrap();
        drop(a);
        RunLock::acquire(dir.path(), "train").unwrap();
    }

    /// A look in progress (a shared lock held for a moment, as `held` takes it) does not
    /// turn a starting run away: it retries while the look lasts.
    #[test]
    fn a_run_starting_during_a_look_gets_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        drop(RunLock::acquire(dir.path(), "predict").unwrap());
        let path = dir.path().join("locks/predict.lock");
        let look = File::open(&path).unwrap();
        look.try_lock_shared().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            look.unlock().unwrap();
        });
        RunLock::acquire(dir.path(), "predict").unwrap();
        t.join().unwrap();
    }

    /// Looking leaves the holder's record alone and takes nothing: a run can start while
    /// (and right after) another process looks.
    #[test]
    fn held_looks_without_taking_or_rewriting() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!RunLock::held(dir.path(), "predict"), "no lock file yet");
        let a = RunLock::acquire(dir.path(), "predict").unwrap();
        let file = dir.path().join("locks/predict.lock");
        std::fs::write(&file, "pid 4242 since then").unwrap();
        assert!(RunLock::held(dir.path(), "predict"));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "pid 4242 since then"
        );
        drop(a);
        assert!(!RunLock::held(dir.path(), "predict"));
        RunLock::acquire(dir.path(), "predict").unwrap();
    }
}
