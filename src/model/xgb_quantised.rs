//! Quantised training matrices (XGBoost's `QuantileDMatrix`), built through XGBoost's
//! data-iterator callbacks from one dense batch.

use std::ptr;

use super::{DMatrix, FeatureKind, check, check_shape, cstring, feature_types, set_str_info, sys};
use crate::error::{ClaimsError, Result};

impl DMatrix {
    /// A training matrix that keeps only XGBoost's quantised values (`QuantileDMatrix`: one
    /// byte a value, the histogram index `hist` trains on) instead of a copy of `data` (eight
    /// bytes a value) plus that index: the same bins as [`DMatrix::from_dense`] with
    /// [`crate::model::params::MAX_BIN`] bins, so the same trees, at about a ninth of the memory. Only for training:
    /// held-out and scored rows stay plain matrices. `threads` sets the build's threads.
    pub fn quantised_from_dense(
        data: &[f32],
        rows: usize,
        names: &[String],
        kinds: &[FeatureKind],
        labels: &[f32],
        threads: usize,
    ) -> Result<Self> {
        let cols = check_shape(data, rows, names, kinds)?;
        if labels.len() != rows {
            return Err(ClaimsError::Xgboost(format!(
                "label: {} values for {rows} rows",
                labels.len()
            )));
        }
        let mut proxy = ptr::null_mut();
        // SAFETY: proxy is written on success and freed below.
        check(unsafe { sys::XGProxyDMatrixCreate(&mut proxy) })?;
        let proxy = DMatrix {
            handle: proxy,
            rows,
        };
        let mut feed = Feed {
            proxy: proxy.handle,
            array: format!(
                r#"{{"data": [{}, true], "shape": [{rows}, {cols}], "typestr": "<f4", "version": 3}}"#,
                data.as_ptr() as usize
            ),
            labels,
            names,
            types: feature_types(kinds),
            given: false,
            error: None,
        };
        let config = cstring(&format!(
            r#"{{"missing": NaN, "nthread": {}, "max_bin": {}}}"#,
            threads.max(1),
            crate::model::params::MAX_BIN
        ))?;
        let mut handle = ptr::null_mut();
        // SAFETY: `feed` outlives the call and is only touched by the two callbacks, which
        // XGBoost calls on this thread during it; `data` and `labels` (read through the
        // proxy) are borrowed for the whole call; handle is written on success.
        let ret = unsafe {
            sys::XGQuantileDMatrixCreateFromCallback(
                (&raw mut feed).cast(),
                proxy.handle,
                ptr::null_mut(),
                Some(feed_reset),
                Some(feed_next),
                config.as_ptr(),
                &mut handle,
            )
        };
        drop(proxy);
        if let Some(e) = feed.error {
            if ret == 0 {
                // SAFETY: handle was created above and is not used again.
                unsafe { sys::XGDMatrixFree(handle) };
            }
            return Err(ClaimsError::Xgboost(e));
        }
        check(ret)?;
        let mut m = DMatrix { handle, rows };
        m.set_str_info("feature_name", names)?;
        m.set_str_info("feature_type", &feature_types(kinds))?;
        Ok(m)
    }
}

/// The one batch a quantised matrix is built from, handed to XGBoost through the proxy each
/// time it asks (it reads the data twice: once to find the bins, once to fill them).
struct Feed<'a> {
    proxy: sys::DMatrixHandle,
    /// The data as a NumPy array interface (address, shape, f32).
    array: String,
    labels: &'a [f32],
    names: &'a [String],
    types: Vec<String>,
    given: bool,
    error: Option<String>,
}

impl Feed<'_> {
    fn give(&self) -> Result<()> {
        let array = cstring(&self.array)?;
        // SAFETY: the proxy is alive for the whole build; the array's data outlives it.
        check(unsafe { sys::XGProxyDMatrixSetDataDense(self.proxy, array.as_ptr()) })?;
        let label = cstring("label")?;
        // SAFETY: labels holds one float per row.
        check(unsafe {
            sys::XGDMatrixSetFloatInfo(
                self.proxy,
                label.as_ptr(),
                self.labels.as_ptr(),
                self.labels.len() as u64,
            )
        })?;
        set_str_info(self.proxy, "feature_name", self.names)?;
        set_str_info(self.proxy, "feature_type", &self.types)
    }
}

/// XGBoost's `next`: the batch the first time after a reset, then the end (0). An error is
/// kept for the caller and ends the data.
unsafe extern "C" fn feed_next(iter: sys::DataIterHandle) -> std::os::raw::c_int {
    // SAFETY: iter is the `Feed` passed to XGQuantileDMatrixCreateFromCallback, alive and
    // used by nothing else during the call.
    let feed = unsafe { &mut *iter.cast::<Feed>() };
    if feed.given || feed.error.is_some() {
        return 0;
    }
    feed.given = true;
    match feed.give() {
        Ok(()) => 1,
        Err(e) => {
            feed.error = Some(e.to_string());
            0
        }
    }
}

/// XGBoost's `reset`: the batch is given again.
unsafe extern "C" fn feed_reset(iter: sys::DataIterHandle) {
    // SAFETY: as in `feed_next`.
    unsafe { (*iter.cast::<Feed>()).given = false };
}

#[cfg(test)]
mod tests {
    use super::super::Booster;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Rows with missing values and a categorical column, and their labels.
    fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut x = vec![0f32; n * 4];
        let mut y = vec![0f32; n];
        for i in 0..n {
            for j in 0..3 {
                x[i * 4 + j] = if rng.random_bool(0.1) {
                    f32::NAN
                } else {
                    rng.random_range(-3.0..3.0)
                };
            }
            x[i * 4 + 3] = rng.random_range(0..6) as f32;
            let z = x[i * 4] + 0.5 * x[i * 4 + 1].max(0.0) + 0.3 * x[i * 4 + 3];
            y[i] = f32::from(z + rng.random_range(-1.0..1.0) > 0.8);
        }
        (x, y)
    }

    #[test]
    fn quantised_matrix_trains_the_same_model_as_a_plain_one() {
        let names: Vec<String> = ["a", "b", "c", "kind"].map(String::from).to_vec();
        let kinds = [
            FeatureKind::Numeric,
            FeatureKind::Numeric,
            FeatureKind::Numeric,
            FeatureKind::Categorical,
        ];
        let n = 3_000;
        let (x, y) = data(n);
        let params: Vec<(String, String)> = [
            ("objective", "binary:logistic"),
            ("tree_method", "hist"),
            ("nthread", "1"),
            ("max_depth", "4"),
            ("subsample", "0.8"),
            ("seed", "3"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        let model = |m: &DMatrix| {
            let mut b = Booster::new(&[m], &params).unwrap();
            for it in 0..20 {
                b.update(m, it).unwrap();
            }
            b.to_json().unwrap()
        };
        let mut plain = DMatrix::from_dense(&x, n, &names, &kinds).unwrap();
        plain.set_labels(&y).unwrap();
        let quantised = DMatrix::quantised_from_dense(&x, n, &names, &kinds, &y, 2).unwrap();
        assert_eq!(quantised.rows(), n);
        let (a, b) = (model(&plain), model(&quantised));
        assert!(String::from_utf8_lossy(&a).contains("\"categories_nodes\""));
        assert_eq!(a, b, "the same trees from both matrices");
    }

    #[test]
    fn quantised_matrix_refuses_mismatched_input() {
        let names: Vec<String> = vec!["a".into(), "b".into()];
        let kinds = [FeatureKind::Numeric; 2];
        let err = |x: &[f32], rows: usize, y: &[f32]| {
            DMatrix::quantised_from_dense(x, rows, &names, &kinds, y, 1)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            err(&[1.0, 2.0, 3.0], 2, &[0.0, 1.0])
                .contains("cannot build a 2x2 matrix from 3 values")
        );
        assert!(err(&[1.0, 2.0, 3.0, 4.0], 2, &[0.0]).contains("label: 1 values for 2 rows"));
    }
}
