//! Connection URLs of the PostgreSQL sink as they may be shown: without their password.

/// The URL with any password replaced by `***`: in `user:password@`, and as a
/// `password=` parameter of the query string (or of a `key=value` connection string).
pub fn redact(url: &str) -> String {
    let url = redact_password_params(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    // The user part ends at the last '@' (libpq's rule): a password may hold an
    // unencoded '/', '?' or '@', and none of it may show.
    let Some((auth, host_and_tail)) = rest.rsplit_once('@') else {
        return url.clone();
    };
    let user = auth.split([':', '/', '?', '@']).next().unwrap_or("");
    if auth.len() > user.len() {
        format!("{scheme}://{user}:***@{host_and_tail}")
    } else {
        format!("{scheme}://{user}@{host_and_tail}")
    }
}

/// `url` with its password left out (user part and `password=` parameters), for a command
/// to paste: the password then comes from PGPASSWORD or ~/.pgpass. The flag says whether
/// there was one.
pub fn without_password(url: &str) -> (String, bool) {
    let shown = redact(url);
    if shown == url {
        return (shown, false);
    }
    let is_password = |kv: &str| kv.to_ascii_lowercase().starts_with("password=");
    let out = match shown.split_once("://") {
        Some((scheme, rest)) => {
            let rest = match rest.rsplit_once('@') {
                Some((auth, host)) => {
                    format!("{}@{host}", auth.strip_suffix(":***").unwrap_or(auth))
                }
                None => rest.to_string(),
            };
            match rest.split_once('?') {
                Some((base, query)) => {
                    let kept: Vec<&str> = query.split('&').filter(|kv| !is_password(kv)).collect();
                    if kept.is_empty() {
                        format!("{scheme}://{base}")
                    } else {
                        format!("{scheme}://{base}?{}", kept.join("&"))
                    }
                }
                None => format!("{scheme}://{rest}"),
            }
        }
        None => shown
            .split(' ')
            .filter(|kv| !is_password(kv))
            .collect::<Vec<_>>()
            .join(" "),
    };
    (out, true)
}

fn redact_password_params(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.to_ascii_lowercase().find("password=") {
        let before = &rest[..at];
        let starts_key = before.is_empty() || before.ends_with(['?', '&', ' ']);
        out.push_str(before);
        out.push_str(&rest[at..at + "password=".len()]);
        rest = &rest[at + "password=".len()..];
        if starts_key {
            let end = rest.find(['&', ' ']).unwrap_or(rest.len());
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_left_out_of_a_command_to_paste() {
        for (url, want, had) in [
            (
                "postgres://bob:s3cret@db:5432/claims",
                "postgres://bob@db:5432/claims",
                true,
            ),
            (
                "postgres://bob@db/claims",
                "postgres://bob@db/claims",
                false,
            ),
            (
                "postgres://bob@db/claims?sslmode=require&password=s3%40cret&x=1",
                "postgres://bob@db/claims?sslmode=require&x=1",
                true,
            ),
            (
                "postgres://o:W@R/x@db/c?Password=P",
                "postgres://o@db/c",
                true,
            ),
            (
                "host=db user=bob password=s3cret dbname=claims",
                "host=db user=bob dbname=claims",
                true,
            ),
        ] {
            assert_eq!(without_password(url), (want.to_string(), had), "{url}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://bob:s3cret@db:5432/claims"),
            "postgres://bob:***@db:5432/claims"
        );
        assert_eq!(
            redact("postgres://bob@db/claims"),
            "postgres://bob@db/claims"
        );
        assert_eq!(redact("postgres://db/claims"), "postgres://db/claims");
        assert_eq!(
            redact("postgres://bob@db/claims?sslmode=require&password=s3%40cret&x=1"),
            "postgres://bob@db/claims?sslmode=require&password=***&x=1"
        );
        assert_eq!(
            redact("postgres://bob:pw@db:bad/claims?Password=TOP"),
            "postgres://bob:***@db:bad/claims?Password=***"
        );
        assert_eq!(
            redact("host=db user=bob password=s3cret dbname=claims"),
            "host=db user=bob password=*** dbname=claims"
        );
        assert_eq!(
            redact("postgres://bob@db/claims?old_password=x"),
            "postgres://bob@db/claims?old_password=x"
        );
        // Unencoded '/', '?' and '@' inside a password.
        assert_eq!(
            redact("postgres://owner:Zx9/kQ+w==@127.0.0.1:5432/claims"),
            "postgres://owner:***@127.0.0.1:5432/claims"
        );
        assert_eq!(
            redact("postgres://owner:SEC?RET@db/claims"),
            "postgres://owner:***@db/claims"
        );
        assert_eq!(
            redact("postgres://writer:WRONG@PW3@db/claims"),
            "postgres://writer:***@db/claims"
        );
    }
}
