//! Opening a PostgreSQL connection within a deadline: the driver's own timeout covers
//! only opening the socket, not the handshake after it.

use postgres::{Client, NoTls};

use super::postgres::{err, setup_err};
use crate::error::{ClaimsError, Result};

/// A connection attempt under way: to which server, since when, and whether its caller
/// has given up waiting for it (the server accepted and never answered).
struct Entry {
    id: u64,
    server: String,
    since: std::time::Instant,
    timed_out: bool,
}

/// Connection attempts under way.
static IN_FLIGHT: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());

fn in_flight() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner())
}

/// One attempt's entry in [`IN_FLIGHT`], taken out when the attempt ends (or never starts).
struct Attempt(u64);

impl Drop for Attempt {
    fn drop(&mut self) {
        in_flight().retain(|e| e.id != self.0);
    }
}

/// Connects on a helper thread and waits at most the connect timeout per host (plus a
/// grace second): the driver's own timeout covers only opening the socket, so a server
/// that accepts and never answers would otherwise hang the run for ever. The driver gives
/// no way to abandon that attempt, so its thread (and socket) stays until the server
/// answers or drops it; while it does, no other attempt to that server starts (the
/// console polls every second: it would pile up threads and sockets).
pub(super) fn handshake(
    cfg: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    described: &str,
) -> Result<Client> {
    let per_host = cfg
        .get_connect_timeout()
        .copied()
        .unwrap_or(std::time::Duration::from_secs(30));
    let hosts = cfg.get_hosts().len().max(1) as u32;
    let limit = per_host * hosts + std::time::Duration::from_secs(1);
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let attempt = {
        let mut waiting = in_flight();
        // Only an attempt that already outlived its deadline holds new ones back: attempts
        // at the same time to a server that answers (a console poll and a run) both go on.
        if let Some(e) = waiting
            .iter()
            .find(|e| e.server == described && e.timed_out)
        {
            return Err(ClaimsError::Other(anyhow::anyhow!(
                "cannot connect to {described}: an earlier attempt has had no answer for {} s (the server accepts connections but does not answer); no new attempt until it ends",
                e.since.elapsed().as_secs()
            )));
        }
        waiting.push(Entry {
            id,
            server: described.to_string(),
            since: std::time::Instant::now(),
            timed_out: false,
        });
        Attempt(id)
    };
    let (send, answer) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("claims-pg-connect".into())
        .spawn(move || {
            let connected = match tls {
                Some(tls) => cfg.connect(tls),
                None => cfg.connect(NoTls),
            };
            drop(attempt);
            let _ = send.send(connected);
        })
        .map_err(|e| err("start the connection thread", e))?;
    match answer.recv_timeout(limit) {
        Ok(connected) => {
            connected.map_err(|e| setup_err(&format!("cannot connect to {described}"), e))
        }
        Err(_) => {
            if let Some(e) = in_flight().iter_mut().find(|e| e.id == id) {
                e.timed_out = true;
            }
            Err(ClaimsError::Other(anyhow::anyhow!(
                "cannot connect to {described}: the server accepted the connection but did not answer within {} s (connect_timeout {} s{}, plus 1 s; connect_timeout in the URL sets it)",
                limit.as_secs(),
                per_host.as_secs(),
                if hosts > 1 {
                    format!(" for each of {hosts} hosts")
                } else {
                    String::new()
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    /// Against a server that accepts and never answers, one attempt at a time: the
    /// first gives up after connect_timeout + 1 s, the next is refused at once while the
    /// first still waits, and the server sees one connection, not one per retry (the
    /// console retries every second).
    #[test]
    fn one_attempt_at_a_time_to_a_silent_server() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut kept = vec![];
            for s in silent.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                kept.push(s);
            }
        });
        let url = format!("postgres://u@127.0.0.1:{port}/d?connect_timeout=1&sslmode=disable");
        let Err(first) = crate::sink::postgres::PgSink::connect(&url) else {
            panic!("connected to a silent server")
        };
        assert!(
            first.to_string().contains("did not answer within 2 s"),
            "{first}"
        );
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let Err(again) = crate::sink::postgres::PgSink::connect(&url) else {
                panic!("connected to a silent server")
            };
            assert!(t0.elapsed() < std::time::Duration::from_millis(500));
            assert!(
                again
                    .to_string()
                    .contains("an earlier attempt has had no answer"),
                "{again}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    /// Attempts at the same time (a console poll and a run) each get their own deadline:
    /// one still under way does not refuse the other.
    #[test]
    fn attempts_at_the_same_time_both_go_on() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let kept: Vec<_> = silent.incoming().take(2).collect();
            std::thread::sleep(std::time::Duration::from_secs(30));
            drop(kept);
        });
        let url = format!("postgres://u@127.0.0.1:{port}/d?connect_timeout=1&sslmode=disable");
        let tries: Vec<_> = (0..2)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    crate::sink::postgres::PgSink::connect(&url)
                        .err()
                        .map(|e| e.to_string())
                })
            })
            .collect();
        for t in tries {
            let e = t.join().unwrap().unwrap_or_default();
            assert!(e.contains("did not answer within 2 s"), "{e}");
        }
    }
}
