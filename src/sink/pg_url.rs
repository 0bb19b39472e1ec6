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
