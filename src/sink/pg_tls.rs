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
//! roots. A client certificate (`sslcert` + `sslkey`, or `PGSSLCERT` + `PGSSLKEY`, or
//! libpq's default `~/.postgresql/postgresql.crt` + `.key` when both exist) is offered to
//! servers that ask for one (`cert` authentication, `clientcert=verify-ca`); as libpq, a
//! key file others may read is refused.

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
    /// `sslcert` and `sslkey`: the client's certificate chain and private key (PEM).
    pub client: Option<(PathBuf, PathBuf)>,
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
    let (mut mode, mut root, mut cert, mut key) = (None, None, None, None);
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
                Some(("sslcert", v)) => cert = Some(percent_decode(v)),
                Some(("sslkey", v)) => key = Some(percent_decode(v)),
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
    let client = match (
        cert.or_else(|| env("PGSSLCERT")),
        key.or_else(|| env("PGSSLKEY")),
    ) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (Some(c), None) => {
            return Err(ClaimsError::Usage(format!(
                "postgres sink: sslcert '{c}' given without sslkey (the private key's file)"
            )));
        }
        (None, Some(k)) => {
            return Err(ClaimsError::Usage(format!(
                "postgres sink: sslkey '{k}' given without sslcert (the certificate's file)"
            )));
        }
        // libpq's default pair, used only when both files are there.
        (None, None) => directories::BaseDirs::new()
            .map(|d| d.home_dir().join(".postgresql"))
            .map(|d| (d.join("postgresql.crt"), d.join("postgresql.key")))
            .filter(|(c, k)| c.is_file() && k.is_file()),
    };
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
    Ok((
        rest,
        TlsSettings {
            mode,
            root_cert,
            client,
        },
    ))
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
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match &t.client {
        None => config.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key_der) = client_identity(cert, key)?;
            config.with_client_auth_cert(chain, key_der).map_err(|e| {
                // `openssl x509 -req` without extensions (PostgreSQL's own example) makes
                // an X.509 v1 certificate, which rustls does not take.
                if format!("{e:?}").contains("UnsupportedCertVersion") {
                    ClaimsError::Usage(format!(
                        "postgres sink: sslcert '{}' is an X.509 v1 certificate, which claims (rustls) does not accept: sign it again as v3, e.g. openssl x509 -req ... -extfile <(echo basicConstraints=CA:FALSE)",
                        cert.display()
                    ))
                } else {
                    ClaimsError::Usage(format!(
                        "postgres sink: sslcert '{}' and sslkey '{}' cannot be used together: {e}",
                        cert.display(),
                        key.display()
                    ))
                }
            })?
        }
    };
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// The client certificate chain and private key (PEM files). As libpq, a key file that
/// its group or others may read is refused.
fn client_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(
    Vec<CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
)> {
    let bad = |path: &std::path::Path, what: &str, e: &dyn std::fmt::Display| {
        ClaimsError::Usage(format!("postgres sink: {what} '{}': {e}", path.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, "sslcert", &e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, "sslcert", &e))?;
    if chain.is_empty() {
        return Err(bad(cert, "sslcert", &"no PEM certificate in the file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(key).map_err(|e| bad(key, "sslkey", &e))?;
        // libpq's rule: 0600 or less, or 0640 or less for a key root owns (shared
        // through a group).
        let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
        if meta.mode() & 0o777 & !allowed != 0 {
            return Err(bad(
                key,
                "sslkey",
                &format!(
                    "its permissions are {:o}; a private key must not be readable by others (chmod 600)",
                    meta.mode() & 0o777
                ),
            ));
        }
    }
    let key_der = rustls::pki_types::PrivateKeyDer::from_pem_file(key).map_err(|e| {
        let text = std::fs::read_to_string(key).unwrap_or_default();
        if text.contains("ENCRYPTED") {
            bad(
                key,
                "sslkey",
                &"a passphrase-protected key, which claims cannot unlock: write an unencrypted copy readable only by this user (openssl pkey -in KEY -out KEY.plain; chmod 600 KEY.plain)",
            )
        } else {
            bad(key, "sslkey", &format!("no private key read ({e}); expected a PEM file with a PRIVATE KEY block"))
        }
    })?;
    Ok((chain, key_der))
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
