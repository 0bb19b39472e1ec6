//! Business dates: today's in a time zone, and a `--date` as given (YYYY-MM-DD).

use crate::error::{ClaimsError, Result};

/// Today's date in `tz`.
pub fn today(tz: &str) -> Result<String> {
    let tz: chrono_tz::Tz = tz.parse().map_err(|_| {
        ClaimsError::Config(format!(
            "unknown time zone '{tz}' (inference.timezone or schedule.timezone): expected an IANA name such as Europe/London"
        ))
    })?;
    Ok(chrono::Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .to_string())
}

/// Checks a YYYY-MM-DD date: four digits of year (1900 to 2999: a two-digit year would
/// otherwise be read as year 26 and stored as such), two of month and day.
pub fn parse_date(s: &str) -> Result<String> {
    parse_date_of("--date", s)
}

/// [`parse_date`] of the value of option `flag` (`--from`, `--to`), named in the error.
pub fn parse_date_of(flag: &str, s: &str) -> Result<String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    let why = if !shape {
        "expected YYYY-MM-DD (a four-digit year)".to_string()
    } else if !("1900"..="2999").contains(&&s[..4]) {
        format!("year {} is out of range (1900 to 2999)", &s[..4])
    } else {
        match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => return Ok(d.to_string()),
            Err(e) => format!("not a calendar date ({e})"),
        }
    };
    Err(ClaimsError::Usage(format!("{flag} '{s}': {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_range_end_is_named_as_given() {
        let e = parse_date_of("--to", "2026-02-30").unwrap_err().to_string();
        assert!(
            e.starts_with("--to '2026-02-30': not a calendar date"),
            "{e}"
        );
        let e = today("Mars/Olympus").unwrap_err().to_string();
        assert!(
            e.contains("'Mars/Olympus'") && e.contains("schedule.timezone"),
            "{e}"
        );
    }

    #[test]
    fn dates_need_four_digit_years_in_range() {
        assert_eq!(parse_date("2026-11-22").unwrap(), "2026-11-22");
        for (given, why) in [
            ("26-11-22", "expected YYYY-MM-DD (a four-digit year)"),
            ("0-11-22", "expected YYYY-MM-DD (a four-digit year)"),
            ("2026-1-22", "expected YYYY-MM-DD (a four-digit year)"),
            ("+2026-11-2", "expected YYYY-MM-DD (a four-digit year)"),
            ("20261122", "expected YYYY-MM-DD (a four-digit year)"),
            ("0026-11-22", "year 0026 is out of range (1900 to 2999)"),
            ("1899-12-31", "year 1899 is out of range (1900 to 2999)"),
            ("3000-01-01", "year 3000 is out of range (1900 to 2999)"),
            ("2026-02-30", "not a calendar date"),
            ("2026-13-01", "not a calendar date"),
        ] {
            let e = parse_date(given).unwrap_err().to_string();
            assert!(
                e.contains(&format!("--date '{given}': {why}")),
                "{given}: {e}"
            );
        }
        assert_eq!(parse_date("1900-01-01").unwrap(), "1900-01-01");
        assert_eq!(parse_date("2999-12-31").unwrap(), "2999-12-31");
    }
}
