//! TLS for the PostgreSQL sink, with libpq's `sslmode` meanings (rustls, ring). The
//! driver itself knows only disable/prefer/require and leaves verification to the
//! connector, so the URL's `sslmode` and `sslrootcert` (or `PGSSLMODE`, `PGSSLROOTCERT`)
//! are taken out of it here:
//!
//! | sslmode | encrypted | certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | - | - |
//! | `prefer` (default) | when the server offers it | no | no |
//! | `require` | yes | only against `sslrootcert` when given (as libpq) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! Certificates are checked against `sslrootcert` (PEM) when given, else the system's
//! roots.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::error::{ClaimsError, Result};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SslMode {
    /// Plain text.
    Disable,
    /// TLS when offered, unverified.
    Prefer,
    /// TLS, unverified unless a root certificate is given.
    Require,
    /// TLS, certificate chain verified.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl SslMode {
    /// libpq's name.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of a connection URL.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`: the CA certificates (PEM) to trust.
    pub root_cert: Option<PathBuf>,
}

fn mode_of(v: &str) -> Result<SslMode> {
    Ok(match v {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(ClaimsError::Usage(format!(
                "postgres sink: sslmode '{other}': expected disable, prefer, require, verify-ca or verify-full"
            )));
        }
    })
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query (the rest is left
/// for the driver); the `PGSSLMODE` / `PGSSLROOTCERT` variables fill what the URL lacks.
/// The driver is told only whether to use TLS (its own `sslmode`: disable/prefer/require).
pub fn split_url(url: &str) -> Result<(String, TlsSettings)> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (mut mode, mut root) = (None, None);
    let mut rest = url.to_string();
    // The query starts at the first '?' after the user part (a password may hold a '?').
    let host_from = url.rfind('@').map_or(0, |i| i + 1);
    if url.contains("://")
        && let Some(q) = url[host_from..].find('?')
        && let Some((base, query)) = url
            .split_at_checked(host_from + q)
            .map(|(b, q)| (b, &q[1..]))
    {
        let mut kept = vec![];
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.to_string()),
                Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
                _ => kept.push(pair),
            }
        }
        rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
    }
    let mode = match mode.or_else(|| env("PGSSLMODE")) {
        Some(m) => mode_of(&m)?,
        None => SslMode::Prefer,
    };
    let root_cert = root.or_else(|| env("PGSSLROOTCERT")).map(PathBuf::from);
    let driver_mode = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        _ => "require",
    };
    let sep = if rest[host_from.min(rest.len())..].contains('?') {
        '&'
    } else {
        '?'
    };
    let rest = if rest.contains("://") {
        format!("{rest}{sep}sslmode={driver_mode}")
    } else {
        rest
    };
    Ok((rest, TlsSettings { mode, root_cert }))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Accepts what the mode asks to accept, and checks the rest with webpki.
#[derive(Debug)]
struct Verifier {
    /// `None`: no certificate check (prefer, require without a root certificate).
    webpki: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(v) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // webpki checks the name after the chain: the chain is good here.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The connector for `t`; `None` for `disable`.
pub fn connector(t: &TlsSettings) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    if t.mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verify = match t.mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => t.root_cert.is_some(),
        _ => false,
    };
    let webpki = if verify {
        let mut roots = rustls::RootCertStore::empty();
        match &t.root_cert {
            Some(path) => {
                let bad = |e: &dyn std::fmt::Display| {
                    ClaimsError::Usage(format!(
                        "postgres sink: sslrootcert '{}': {e}",
                        path.display()
                    ))
                };
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(&e))?
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| bad(&e))?;
                if certs.is_empty() {
                    return Err(bad(&"no PEM certificate in the file"));
                }
                for c in certs {
                    roots.add(c).map_err(|e| bad(&e))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(ClaimsError::Usage(
                        "postgres sink: sslmode asks to verify the server, and no system CA certificates were found: give sslrootcert=FILE".into(),
                    ));
                }
            }
        }
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ClaimsError::Usage(format!("postgres sink: TLS roots: {e}")))?,
        )
    } else {
        None
    };
    let verifier = Verifier {
        webpki,
        check_name: t.mode == SslMode::VerifyFull,
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClaimsError::Usage(format!("postgres sink: TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_root_cert_are_taken_out_of_the_url() {
        let (url, t) =
            split_url("postgres://u@db/claims?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&x=1")
                .unwrap();
        assert_eq!(url, "postgres://u@db/claims?x=1&sslmode=require");
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let (url, t) = split_url("postgres://u@db/claims").unwrap();
        assert_eq!(url, "postgres://u@db/claims?sslmode=prefer");
        assert_eq!(t.mode, SslMode::Prefer);
        let (url, _) = split_url("postgres://u@db/claims?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u@db/claims?sslmode=disable");
        assert!(split_url("postgres://u@db/c?sslmode=maybe").is_err());
        // A '?' inside the password is not the query.
        let (url, _) = split_url("postgres://u:se?cret@db/c?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u:se?cret@db/c?sslmode=disable");
    }
}
