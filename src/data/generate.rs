//! Synthetic applications in the reference schema (the seed notebook's 40 columns plus
//! `application_id`), deterministic for a seed. The claim probability comes from a
//! logistic model over a few informative columns; some columns are exact copies
//! (redundant) and the rest are noise. `shift` moves four documented columns to simulate
//! drift: age, income, credit_score_1 and location (and `income level`, which is derived
//! from income).

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{ClaimsError, Result};

/// The columns that `shift` moves (`income level` follows income).
pub const SHIFTED_COLUMNS: [&str; 5] = [
    "age",
    "income",
    "credit_score_1",
    "location",
    "income level",
];

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenSpec {
    /// Number of rows.
    pub rows: usize,
    /// Random seed.
    pub seed: u64,
    /// Share of positive labels (claims) wanted, in (0, 1).
    pub positive_rate: f64,
    /// Drift strength: 0 = reference distribution.
    pub shift: f64,
    /// Strength of the signal (multiplies the informative weights).
    pub signal: f64,
    /// Share of labels flipped at random.
    pub label_noise: f64,
    /// Write the `claim_status` column.
    pub with_labels: bool,
    /// First application number (ids are `APP` + zero-padded number).
    pub id_offset: usize,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            rows: 10_000,
            seed: 42,
            positive_rate: 0.16,
            shift: 0.0,
            signal: 1.0,
            label_noise: 0.005,
            with_labels: true,
            id_offset: 0,
        }
    }
}

const HEADER: &str = "application_id,claim_status,age,height_cm,weight_kg,income,financial_hist_1,financial_hist_2,financial_hist_3,financial_hist_4,credit_score_1,credit_score_2,credit_score_3,insurance_hist_1,insurance_hist_2,insurance_hist_3,insurance_hist_4,insurance_hist_5,bmi,gender,marital_status,occupation,location,prev_claim_rejected,known_health_conditions,uk_residence,family_history_1,family_history_2,family_history_3,family_history_4,family_history_5,product_var_1,product_var_2,product_var_3,product_var_4,health_status,driving_record,previous_claim_rate,education_level,income level,n_dependents,employment_type";

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

struct Row {
    fields: Vec<String>,
    logit: f64,
}

fn letter(i: usize) -> String {
    (LETTERS[i] as char).to_string()
}

fn normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    Normal::new(mean, sd).map_or(mean, |n| n.sample(rng))
}

fn one_row(rng: &mut ChaCha8Rng, spec: &GenSpec) -> Row {
    let s = spec.shift;
    let bit = |rng: &mut ChaCha8Rng, p: f64| u8::from(rng.random_bool(p.clamp(0.0, 1.0)));
    let age = (rng.random_range(18.0..96.0f64) + s * 30.0)
        .floor()
        .clamp(18.0, 120.0);
    let height = normal(rng, 172.0, 10.0).round().clamp(140.0, 210.0);
    let weight = normal(rng, 80.0, 14.0).round().clamp(44.0, 125.0);
    let bmi = (weight / (height / 100.0).powi(2)).round();
    let income = (rng.random_range(0.0..250_000.0f64) * (1.0 + 2.0 * s))
        .floor()
        .min(9_999_999.0);
    let f1 = normal(rng, 0.0, 2.0);
    let f2 = normal(rng, 0.0, 1.2);
    let f3 = normal(rng, 0.0, 2.0);
    let f4 = normal(rng, 0.0, 2.0);
    let cs1 = (normal(rng, 560.0, 150.0) - s * 250.0)
        .round()
        .clamp(0.0, 999.0);
    let cs2 = normal(rng, 350.0, 110.0).round().clamp(0.0, 699.0);
    let cs3 = normal(rng, 350.0, 110.0).round().clamp(0.0, 710.0);
    let i1 = normal(rng, 0.0, 3.0);
    let i4 = normal(rng, 0.0, 1.2);
    let i5 = normal(rng, 0.0, 2.5);
    let gender = bit(rng, 0.5);
    let marital = rng.random_range(0..6usize);
    let occupation = rng.random_range(0..7usize);
    // A shift concentrates locations on the first letters.
    let loc_span = (26.0 * (1.0 - 0.7 * s.clamp(0.0, 1.0))).round().max(3.0) as usize;
    let location = rng.random_range(0..loc_span.min(26));
    let prev_rejected = bit(rng, 0.12);
    let known_health = bit(rng, 0.25);
    let uk = bit(rng, 0.9);
    let fh: Vec<u8> = (0..5).map(|_| bit(rng, 0.3)).collect();
    let fh3_present = rng.random_bool(0.19);
    let pv1 = bit(rng, 0.5);
    let pv2 = bit(rng, 0.4);
    let pv3 = rng.random_range(0..4usize);
    let pv4 = bit(rng, 0.3);
    let health = rng.random_range(1..=4u8);
    let driving = rng.random_range(1..=4u8);
    let prev_rate = rng.random_range(1..=5u8);
    let education = rng.random_range(0..=6u8);
    let income_level = ((income / 50_000.0).floor() as u8).min(4);
    let dependents = rng.random_range(1..=5u8);
    let employment = if rng.random_bool(0.29) {
        bit(rng, 0.6).to_string()
    } else {
        String::new()
    };

    // Informative columns; the coefficients put the reference AUC near the seed's 0.96.
    // Shifted columns carry no weight, so drift does not change the true risk.
    let high_risk_location = [3usize, 9, 16, 21].contains(&location);
    let logit = 1.2 * f1 + 0.8 * f3 - 0.45 * i1
        + 0.9 * f64::from(prev_rate as i32 - 3)
        + 0.6 * f64::from(health as i32 - 2)
        + 1.6 * f64::from(known_health)
        + 1.2 * f64::from(prev_rejected)
        + if high_risk_location { 1.0 } else { 0.0 }
        + if pv3 == 2 { 0.8 } else { 0.0 }
        + 0.5 * (cs2 - 350.0) / 110.0;

    let num = |x: f64| format!("{x}");
    let int = |x: f64| format!("{}", x as i64);
    let fields = vec![
        int(age),
        int(height),
        int(weight),
        int(income),
        num(f1),
        num(f2),
        num(f3),
        num(f4),
        int(cs1),
        int(cs2),
        int(cs3),
        num(i1),
        num(f1), // insurance_hist_2 duplicates financial_hist_1
        num(f3), // insurance_hist_3 duplicates financial_hist_3
        num(i4),
        num(i5),
        int(bmi),
        gender.to_string(),
        letter(marital),
        letter(occupation),
        letter(location),
        prev_rejected.to_string(),
        known_health.to_string(),
        uk.to_string(),
        fh[0].to_string(),
        fh[1].to_string(),
        if fh3_present {
            fh[2].to_string()
        } else {
            String::new()
        },
        fh[3].to_string(),
        fh[4].to_string(),
        pv1.to_string(),
        pv2.to_string(),
        letter(pv3),
        pv4.to_string(),
        health.to_string(),
        driving.to_string(),
        prev_rate.to_string(),
        education.to_string(),
        income_level.to_string(),
        dependents.to_string(),
        employment,
    ];
    Row {
        fields,
        logit: logit * spec.signal,
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The intercept that makes the mean claim probability equal `rate` (bisection).
fn intercept_for(logits: &[f64], rate: f64) -> f64 {
    let (mut lo, mut hi) = (-30.0, 30.0);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        let mean = logits.iter().map(|l| sigmoid(l + mid)).sum::<f64>() / logits.len() as f64;
        if mean < rate { lo = mid } else { hi = mid }
    }
    (lo + hi) / 2.0
}

/// Writes `spec.rows` applications as CSV to `out` (atomically: temp file, then rename).
pub fn write_csv(spec: &GenSpec, out: &Path) -> Result<()> {
    if spec.rows == 0 {
        return Err(ClaimsError::Usage("--rows must be at least 1".into()));
    }
    if !(spec.positive_rate > 0.0 && spec.positive_rate < 1.0) {
        return Err(ClaimsError::Usage(format!(
            "--positive-rate '{}': must be in (0, 1)",
            spec.positive_rate
        )));
    }
    if !spec.shift.is_finite() || spec.shift < 0.0 {
        return Err(ClaimsError::Usage(format!(
            "--shift '{}': must be a number >= 0",
            spec.shift
        )));
    }
    if !(0.0..=0.5).contains(&spec.label_noise) {
        return Err(ClaimsError::Usage(format!(
            "--label-noise '{}': must be in [0, 0.5]",
            spec.label_noise
        )));
    }
    if out.is_dir() {
        return Err(ClaimsError::Usage(format!(
            "--out '{}' is a folder: give the CSV file's name (e.g. {})",
            out.display(),
            out.join("applications.csv").display()
        )));
    }
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ["parquet", "pq"].contains(&ext.to_ascii_lowercase().as_str()) {
        return Err(ClaimsError::Usage(format!(
            "--out '{}': generate writes CSV; give the file a .csv name",
            out.display()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    // The intercept is fixed on the reference distribution (shift 0, same seed) so that a
    // shifted file keeps the same risk model.
    let intercept = {
        let mut r = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x1a7e_5ca1);
        let reference = GenSpec {
            shift: 0.0,
            ..spec.clone()
        };
        let logits: Vec<f64> = (0..spec.rows.min(20_000))
            .map(|_| one_row(&mut r, &reference).logit)
            .collect();
        // Label noise flips a share of labels both ways; aim so the rate after flips is the one asked.
        let n = spec.label_noise;
        let before_noise = ((spec.positive_rate - n) / (1.0 - 2.0 * n)).clamp(1e-4, 1.0 - 1e-4);
        intercept_for(&logits, before_noise)
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ClaimsError::io(dir, e))?;
    // Written aside and renamed into place, readable like any file the user creates (the
    // umask applies), not private to the owner as a temporary file is.
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| ClaimsError::io(dir, e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let header = if spec.with_labels {
            HEADER.to_string()
        } else {
            HEADER.replace(",claim_status", "")
        };
        let io = |e| ClaimsError::io(out, e);
        writeln!(w, "{header}").map_err(io)?;
        for i in 0..spec.rows {
            let row = one_row(&mut rng, spec);
            let p = sigmoid(row.logit + intercept);
            let mut y = rng.random_bool(p.clamp(0.0, 1.0));
            if rng.random_bool(spec.label_noise) {
                y = !y;
            }
            write!(w, "APP{:08}", spec.id_offset + i).map_err(io)?;
            if spec.with_labels {
                write!(w, ",{}", u8::from(y)).map_err(io)?;
            }
            for f in &row.fields {
                w.write_all(b",").map_err(io)?;
                w.write_all(f.as_bytes()).map_err(io)?;
            }
            w.write_all(b"\n").map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    tmp.persist(out)
        .map_err(|e| ClaimsError::io(out, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_near_the_asked_rate() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        let spec = GenSpec {
            rows: 4000,
            seed: 9,
            ..GenSpec::default()
        };
        write_csv(&spec, &a).unwrap();
        write_csv(&spec, &b).unwrap();
        let (ta, tb) = (
            std::fs::read_to_string(&a).unwrap(),
            std::fs::read_to_string(&b).unwrap(),
        );
        assert_eq!(ta, tb);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The same mode as a file created the ordinary way (0666 less the umask).
            let plain = dir.path().join("plain.csv");
            std::fs::write(&plain, "x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&a), mode(&plain));
        }
        let e = write_csv(&spec, &dir.path().join("c.parquet")).unwrap_err();
        assert!(e.to_string().contains("generate writes CSV"), "{e}");
        let lines: Vec<&str> = ta.lines().collect();
        assert_eq!(lines.len(), 4001);
        assert_eq!(lines[0].split(',').count(), 42);
        let pos = lines[1..]
            .iter()
            .filter(|l| l.split(',').nth(1) == Some("1"))
            .count();
        let rate = pos as f64 / 4000.0;
        assert!((rate - 0.16).abs() < 0.03, "{rate}");
    }
}
