//! Tests of `fingerprint.rs`.

use super::*;
use crate::config::Config;
use crate::data::contract::{self, Mode};
use crate::data::generate::{GenSpec, write_csv};
use crate::data::load::read_file;

/// A re-export with every number rounded to 6 decimals (no ids to match by): the near
/// fingerprints find every row, also values whose rounding crossed a boundary of the
/// fourth digit; exact ones find none; other rows match neither.
#[test]
fn near_fingerprints_match_a_rounded_re_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    let spec = GenSpec {
        rows: 2000,
        seed: 8,
        ..GenSpec::default()
    };
    write_csv(&spec, &path).unwrap();
    let cfg = Config::from_overlay("").unwrap();
    let data = contract::check(&cfg.schema, &[read_file(&path).unwrap()], Mode::Training).data;
    let mut rounded = data.clone();
    for col in rounded.numeric.iter_mut() {
        col.iter_mut().for_each(|v| *v = (*v * 1e6).round() / 1e6);
    }
    // A value just past a boundary of the fourth digit, and its re-export just short.
    let mut edge = data.clone();
    edge.numeric[0][0] = 1.049_499_6;
    rounded.numeric[0][0] = 1.049_500;
    assert_ne!(near_bytes(1.049_499_6), near_bytes(1.049_500));
    // Rounded to 4 significant digits (4 decimals below 1), across powers of ten.
    assert_eq!(near_bytes(1.0494), near_bytes(1.04941));
    assert_eq!(near_bytes(9999.6), near_bytes(10_000.0));
    assert_eq!(near_bytes(-123_456.0), near_bytes(-123_500.0));
    assert_ne!(near_bytes(-123_456.0), near_bytes(-123_400.0));
    assert_eq!(near_bytes(0.000_412_345), near_bytes(0.000_412));
    assert_eq!(near_bytes(-0.0), near_bytes(0.0));
    let all: Vec<usize> = (0..2000).collect();
    let near = Fingerprints::from_bytes(&Fingerprints::near(&edge, 0..2000).to_bytes()).unwrap();
    assert_eq!(near.mode, super::Mode::Near);
    let hit = near.contains(&rounded, &all).unwrap();
    assert_eq!(hit.iter().filter(|&&h| h).count(), 2000);
    let exact = Fingerprints::of(&edge, 0..2000)
        .contains(&rounded, &all)
        .unwrap();
    assert!(exact.iter().filter(|&&h| h).count() < 100);
    // Other applicants: no match.
    let other_path = dir.path().join("other.csv");
    write_csv(&GenSpec { seed: 9, ..spec }, &other_path).unwrap();
    let other = contract::check(
        &cfg.schema,
        &[read_file(&other_path).unwrap()],
        Mode::Training,
    )
    .data;
    assert!(near.contains(&other, &all).unwrap().iter().all(|&h| !h));
}

#[test]
fn same_values_match_whatever_the_position_id_or_column_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    let spec = GenSpec {
        rows: 300,
        seed: 5,
        ..GenSpec::default()
    };
    write_csv(&spec, &path).unwrap();
    let cfg = Config::from_overlay("").unwrap();
    let data = contract::check(&cfg.schema, &[read_file(&path).unwrap()], Mode::Training).data;
    assert_eq!(data.len(), 300);
    let seen = Fingerprints::of(&data, 0..100);
    let back = Fingerprints::from_bytes(&seen.to_bytes()).unwrap();
    assert_eq!(back, seen);
    // The same rows elsewhere, under other ids, with the columns in another order.
    let mut moved = data.subset(&(0..300).rev().collect::<Vec<_>>());
    moved.ids.iter_mut().for_each(|id| id.push_str("-copy"));
    moved.numeric_names.reverse();
    moved.numeric.reverse();
    let hit = back
        .contains(&moved, &(0..300).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(hit.iter().filter(|&&h| h).count(), 100);
    assert!(
        hit[200..].iter().all(|&h| h),
        "rows 0..100 are now 200..300"
    );
    // One changed value is a different row.
    moved.numeric[0][299] += 1.0;
    assert!(!back.contains(&moved, &[299]).unwrap()[0]);
    // A column the data lacks is named.
    moved.numeric_names[0] = "renamed".into();
    let err = back.contains(&moved, &[0]).unwrap_err();
    assert!(err.starts_with("numeric column"), "{err}");
    assert!(Fingerprints::from_bytes(&seen.to_bytes()[..40]).is_err());
}

/// Ids read from the file are kept and found again whatever the values; ids made from
/// the file's name and row are not kept (another file of the same name would match).
#[test]
fn seen_ids_are_the_given_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    let spec = GenSpec {
        rows: 100,
        seed: 6,
        ..GenSpec::default()
    };
    write_csv(&spec, &path).unwrap();
    let cfg = Config::from_overlay("").unwrap();
    let data = contract::check(&cfg.schema, &[read_file(&path).unwrap()], Mode::Training).data;
    let seen = SeenIds::of(&data, 0..50);
    let back = SeenIds::from_bytes(&seen.to_bytes()).unwrap();
    assert_eq!(back, seen);
    let mut changed = data.clone();
    changed.numeric[0].iter_mut().for_each(|v| *v += 0.5);
    let hit = back.contains(&changed, &(0..100).collect::<Vec<_>>());
    assert_eq!(hit.iter().filter(|&&h| h).count(), 50);
    assert!(hit[..50].iter().all(|&h| h));
    assert!(SeenIds::from_bytes(&seen.to_bytes()[..30]).is_err());
    // The same file without its id column: ids are train:1, train:2, ...
    let mut made = data.clone();
    made.ids = (1..=100).map(|r| format!("train:{r}")).collect();
    assert_eq!(SeenIds::of(&made, 0..50).0.len(), 0);
    let files = seen_files(&made, 0..50);
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    assert_eq!(names, [FILE, NEAR_FILE, COARSE_FILE, IDS_FILE]);
    assert_eq!(SeenIds::from_bytes(&files[3].1).unwrap().0.len(), 0);
}

/// Coarse fingerprints: over the categories and the columns of whole numbers, so a re-export
/// with the fractions rounded to 2 decimals matches; they identify rows only where those
/// columns tell rows apart.
#[test]
fn coarse_fingerprints_leave_the_fractions_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    write_csv(
        &GenSpec {
            rows: 1000,
            seed: 12,
            ..GenSpec::default()
        },
        &path,
    )
    .unwrap();
    let cfg = Config::from_overlay("").unwrap();
    let data = contract::check(&cfg.schema, &[read_file(&path).unwrap()], Mode::Training).data;
    let coarse =
        Fingerprints::from_bytes(&Fingerprints::coarse(&data, 0..1000).to_bytes()).unwrap();
    assert_eq!(coarse.mode, super::Mode::Coarse);
    assert!(coarse.identifies_rows());
    // Only categorical and whole-number columns are hashed.
    assert!(coarse.columns.iter().all(|c| match c {
        Column::Numeric(n) => {
            let k = data.numeric_names.iter().position(|x| x == n).unwrap();
            data.numeric[k]
                .iter()
                .all(|v| v.is_nan() || v.fract() == 0.0)
        }
        Column::Categorical(_) => true,
    }));
    let mut rounded = data.clone();
    for col in rounded.numeric.iter_mut() {
        col.iter_mut()
            .for_each(|v| *v = (*v * 100.0).round() / 100.0);
    }
    let all: Vec<usize> = (0..1000).collect();
    assert!(coarse.contains(&rounded, &all).unwrap().iter().all(|&h| h));
    // A schema with no whole numbers and one category does not tell rows apart by them.
    let mut few = data.clone();
    for col in few.categorical.iter_mut() {
        col.iter_mut().for_each(|c| *c = 0);
    }
    for col in few.numeric.iter_mut() {
        col.iter_mut().for_each(|v| *v += 0.5);
    }
    assert!(!Fingerprints::coarse(&few, 0..1000).identifies_rows());
}
