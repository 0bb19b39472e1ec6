//! The console's link to a sink on a server (PostgreSQL). Its requests run on a worker
//! thread that owns the connection, and the console waits for an answer at most [`WAIT`]:
//! a server that stops answering costs one short wait, after which every poll is told
//! "still waiting" at once until the server answers. A slow answer is not lost: the next
//! poll asking the same thing takes it.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{ClaimsError, Result};
use crate::sink::Sink;

/// The longest the console's screen waits for the server in one poll.
pub const WAIT: Duration = Duration::from_millis(1500);

type Answer = Box<dyn Any + Send>;
type Job = Box<dyn FnOnce(&mut Option<Box<dyn Sink>>) -> Answer + Send>;

/// Requests to one sink, answered by a worker thread.
pub struct RemoteSink {
    url: String,
    home: PathBuf,
    jobs: Option<mpsc::Sender<(Job, mpsc::Sender<Answer>)>>,
    /// The request that has not been answered yet: what it asked, and since when.
    pending: Option<(String, mpsc::Receiver<Answer>, Instant)>,
}

impl RemoteSink {
    /// A link to sink `url` (the worker starts, and connects, at the first request).
    pub fn new(url: &str, home: &Path) -> Self {
        RemoteSink {
            url: url.to_string(),
            home: home.to_path_buf(),
            jobs: None,
            pending: None,
        }
    }

    fn worker(&mut self) -> Result<&mpsc::Sender<(Job, mpsc::Sender<Answer>)>> {
        if self.jobs.is_none() {
            let (send, jobs) = mpsc::channel::<(Job, mpsc::Sender<Answer>)>();
            std::thread::Builder::new()
                .name("claims-console-sink".into())
                .spawn(move || {
                    let mut sink: Option<Box<dyn Sink>> = None;
                    for (job, reply) in jobs {
                        let _ = reply.send(job(&mut sink));
                    }
                })
                .map_err(|e| ClaimsError::Other(anyhow::anyhow!("console: sink thread: {e}")))?;
            self.jobs = Some(send);
        }
        self.jobs
            .as_ref()
            .ok_or_else(|| ClaimsError::Other(anyhow::anyhow!("console: no sink thread")))
    }

    /// Runs `f` on the sink (connecting first if needed; a failed request drops the
    /// connection, so the next one reconnects). `key` names the request: a late answer is
    /// returned to the next request with the same key.
    pub fn ask<T: Send + 'static>(
        &mut self,
        key: String,
        f: impl FnOnce(&mut dyn Sink) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if let Some((asked, answer, since)) = self.pending.take() {
            match answer.try_recv() {
                Ok(a) if asked == key => return unpack(a),
                // An answer to something else: the server is answering again.
                Ok(_) => {}
                Err(mpsc::TryRecvError::Empty) => {
                    let waited = since.elapsed().as_secs();
                    self.pending = Some((asked, answer, since));
                    return Err(self.silent(waited));
                }
                Err(mpsc::TryRecvError::Disconnected) => self.jobs = None,
            }
        }
        let (url, home) = (self.url.clone(), self.home.clone());
        let job: Job = Box::new(move |slot: &mut Option<Box<dyn Sink>>| {
            let run = |slot: &mut Option<Box<dyn Sink>>| -> Result<T> {
                let sink = match slot {
                    Some(s) => s,
                    None => slot.insert(crate::sink::open_to_read(&url, &home)?),
                };
                f(sink.as_mut())
            };
            let out = run(slot);
            if out.is_err() {
                *slot = None;
            }
            Box::new(out) as Answer
        });
        let (reply, answer) = mpsc::channel();
        if self.worker()?.send((job, reply)).is_err() {
            self.jobs = None; // the worker is gone: the next request starts another
            return Err(ClaimsError::Other(anyhow::anyhow!(
                "console: the sink thread stopped"
            )));
        }
        match answer.recv_timeout(WAIT) {
            Ok(a) => unpack(a),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.pending = Some((key, answer, Instant::now() - WAIT));
                Err(self.silent(WAIT.as_secs()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.jobs = None;
                Err(ClaimsError::Other(anyhow::anyhow!(
                    "console: the sink thread stopped"
                )))
            }
        }
    }

    fn silent(&self, waited: u64) -> ClaimsError {
        ClaimsError::Other(anyhow::anyhow!(
            "{} has not answered for {waited} s (still waiting; the console keeps going)",
            crate::sink::postgres::redact(&self.url)
        ))
    }
}

fn unpack<T: 'static>(a: Answer) -> Result<T> {
    match a.downcast::<Result<T>>() {
        Ok(out) => *out,
        Err(_) => Err(ClaimsError::Other(anyhow::anyhow!(
            "console: a sink answer of the wrong kind"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts and never answers: the first request gives up after [`WAIT`],
    /// later ones at once, and the console's source says so.
    #[test]
    fn a_silent_server_costs_one_short_wait() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let kept: Vec<_> = silent.incoming().take(2).collect();
            std::thread::sleep(Duration::from_secs(60));
            drop(kept);
        });
        let home = tempfile::tempdir().unwrap();
        let url = format!("postgres://u@127.0.0.1:{port}/d?sslmode=disable&password=hush");
        let mut days = crate::tui::data::DaySource::new(&url);
        let t0 = Instant::now();
        let first = days.dates(home.path()).unwrap_err().to_string();
        let took = t0.elapsed();
        assert!(took >= WAIT && took < WAIT * 3, "{took:?}");
        assert!(first.contains("has not answered"), "{first}");
        assert!(!first.contains("hush"), "{first}");
        for _ in 0..3 {
            let t0 = Instant::now();
            let again = days
                .load(home.path(), "2026-01-01")
                .unwrap_err()
                .to_string();
            assert!(
                t0.elapsed() < Duration::from_millis(200),
                "{:?}",
                t0.elapsed()
            );
            assert!(again.contains("still waiting"), "{again}");
        }
    }
}
