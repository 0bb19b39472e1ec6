//! Opening a PostgreSQL connection within a deadline: the driver's own timeout covers
//! only opening the socket, not the handshake after it.

use postgres::{Client, NoTls};

use super::postgres::{err, setup_err};
use crate::error::{ClaimsError, Result};

/// Connection attempts still waiting for a silent server, by server, since when.
static IN_FLIGHT: std::sync::Mutex<Vec<(String, std::time::Instant)>> =
    std::sync::Mutex::new(Vec::new());

/// One attempt's entry in [`IN_FLIGHT`], taken out when the attempt ends (or never starts).
struct Attempt(String);

impl Drop for Attempt {
    fn drop(&mut self) {
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _)| *k != self.0);
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
    let attempt = {
        let mut waiting = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, since)) = waiting.iter().find(|(k, _)| k == described) {
            return Err(ClaimsError::Other(anyhow::anyhow!(
                "cannot connect to {described}: an earlier attempt has had no answer for {} s (the server accepts connections but does not answer); no new attempt until it ends",
                since.elapsed().as_secs()
            )));
        }
        waiting.push((described.to_string(), std::time::Instant::now()));
        Attempt(described.to_string())
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
        Err(_) => Err(ClaimsError::Other(anyhow::anyhow!(
            "cannot connect to {described}: the server accepted the connection but did not answer within {} s (connect_timeout {} s{}, plus 1 s; connect_timeout in the URL sets it)",
            limit.as_secs(),
            per_host.as_secs(),
            if hosts > 1 {
                format!(" for each of {hosts} hosts")
            } else {
                String::new()
            }
        ))),
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
}
