//! A 5-field cron expression as systemd `OnCalendar` fields. Each cron field is expanded to
//! the values it names (numbers, month and weekday names, ranges, steps, lists), then written
//! in systemd's terms, so every standard expression the config accepts converts, whatever
//! form it is written in: weekdays in systemd's Monday-to-Sunday order (cron's week starts
//! on Sunday, 0 or 7), a step as `start/step`, other sets as lists and `a..b` runs.

use crate::error::{ClaimsError, Result};

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The values of a cron field within `lo..=hi` (as a membership table indexed from 0), or
/// `None` when it is not a standard field. `names[i]` names the value `name_base + i`.
fn values(f: &str, lo: u32, hi: u32, names: &[&str], name_base: u32) -> Option<Vec<bool>> {
    let value = |s: &str| -> Option<u32> {
        s.parse::<u32>().ok().or_else(|| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .map(|i| i as u32 + name_base)
        })
    };
    let mut set = vec![false; hi as usize + 1];
    for part in f.split(',') {
        let (base, step) = match part.split_once('/') {
            Some((b, s)) => (b, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (a, b) = if base == "*" {
            (lo, hi)
        } else if let Some((a, b)) = base.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(base)?;
            (a, if step > 1 { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return None;
        }
        for v in (a..=b).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Some(set)
}

/// A minute, hour, day or month field: `*`, `start/step`, or a list of values and runs.
pub fn field(f: &str, what: &str, lo: u32, hi: u32) -> Result<String> {
    let names: &[&str] = if what == "month" { &MONTHS } else { &[] };
    let set = values(f, lo, hi, names, 1).ok_or_else(|| {
        ClaimsError::Config(format!(
            "cron {what} field '{f}' has no systemd OnCalendar equivalent (expected numbers {lo}-{hi}, ranges, steps or lists)"
        ))
    })?;
    let on: Vec<u32> = (lo..=hi).filter(|&v| set[v as usize]).collect();
    if on.len() == (hi - lo + 1) as usize {
        return Ok("*".into());
    }
    // Every `step`th value from the first to the end of the range (three or more).
    if on.len() >= 3 {
        let step = on[1] - on[0];
        let regular = on.windows(2).all(|w| w[1] - w[0] == step);
        if step > 1 && regular && on[on.len() - 1] + step > hi {
            return Ok(format!("{}/{step}", on[0]));
        }
    }
    Ok(runs(&on, |v| format!("{v:02}")))
}

/// Consecutive values (in the given order) as `a..b` runs of three or more, else one by one.
fn runs(on: &[u32], name: impl Fn(u32) -> String) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < on.len() {
        let mut j = i;
        while j + 1 < on.len() && on[j + 1] == on[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            out.push(format!("{}..{}", name(on[i]), name(on[j])));
        } else {
            out.extend(on[i..=j].iter().map(|&v| name(v)));
        }
        i = j + 1;
    }
    out.join(",")
}

/// The weekday prefix of an OnCalendar expression ("" for every day, else e.g. "Mon..Fri ").
pub fn weekday(f: &str) -> Result<String> {
    let set = values(f, 0, 7, &DAYS, 0).ok_or_else(|| {
        ClaimsError::Config(format!(
            "cron weekday field '{f}' has no systemd OnCalendar equivalent (expected 0-7 or SUN-SAT, ranges, steps or lists)"
        ))
    })?;
    // systemd's week runs Monday (1 here) to Sunday (7 here; cron's 0 and 7).
    let on: Vec<u32> = (1..=7)
        .filter(|&d| set[d as usize % 7] || (d == 7 && set[7]))
        .collect();
    if on.len() == 7 {
        return Ok(String::new());
    }
    Ok(runs(&on, |d| DAYS[d as usize % 7].to_string()) + " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_follow_systemds_monday_to_sunday_week() {
        for (cron, want) in [
            ("*", ""),
            ("1-5", "Mon..Fri "),
            ("MON-FRI", "Mon..Fri "),
            ("0-2", "Mon,Tue,Sun "),
            ("SUN-TUE", "Mon,Tue,Sun "),
            ("0-6", ""),
            ("1-7", ""),
            ("0,6", "Sat,Sun "),
            ("7", "Sun "),
            ("*/2", "Tue,Thu,Sat,Sun "),
            ("1-6/2", "Mon,Wed,Fri "),
            ("sat", "Sat "),
        ] {
            assert_eq!(weekday(cron).unwrap(), want, "{cron}");
        }
        assert!(weekday("8").is_err());
        assert!(weekday("FRI-MON").is_err());
    }

    #[test]
    fn fields_take_names_ranges_and_steps() {
        for (cron, what, lo, hi, want) in [
            ("*", "minute", 0, 59, "*"),
            ("*/15", "minute", 0, 59, "0/15"),
            ("5/20", "minute", 5, 59, "5/20"),
            ("0", "minute", 0, 59, "00"),
            ("1-5/2", "hour", 0, 23, "01,03,05"),
            ("9-17", "hour", 0, 23, "09..17"),
            ("8,9,12", "hour", 0, 23, "08,09,12"),
            ("JAN,JUL", "month", 1, 12, "01,07"),
            ("jan-mar", "month", 1, 12, "01..03"),
            ("*/3", "month", 1, 12, "1/3"),
            ("1,15", "day", 1, 31, "01,15"),
        ] {
            assert_eq!(field(cron, what, lo, hi).unwrap(), want, "{cron}");
        }
        assert!(field("60", "minute", 0, 59).is_err());
        assert!(field("0", "day", 1, 31).is_err());
        assert!(field("L", "day", 1, 31).is_err());
        assert!(field("*/0", "minute", 0, 59).is_err());
    }
}
