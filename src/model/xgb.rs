//! A small safe wrapper over XGBoost's C API (through `xgboost_lib-sys`, the bindings layer
//! of the `xgb` crate family). We call the C API directly instead of `xgb::Booster` because
//! that type always sends `base_score=0.5` (which turns off XGBoost 3's intercept
//! estimation) and the removed `predictor` parameter, and has no boosted-rounds count,
//! JSON config read-back, feature scores or iteration-range prediction, all of which the
//! pipeline needs. Every parameter we send is one we chose (see `Booster::new`).

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use xgboost_sys as sys;

use crate::error::{ClaimsError, Result};

#[path = "xgb_quantised.rs"]
mod quantised;

fn last_error() -> String {
    // SAFETY: XGBGetLastError returns a pointer to a thread-local, NUL-terminated string.
    unsafe {
        let p = sys::XGBGetLastError();
        if p.is_null() {
            return "unknown XGBoost error".to_string();
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn check(ret: i32) -> Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(ClaimsError::Xgboost(last_error()))
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| ClaimsError::Xgboost(format!("string with NUL byte: {s:?}")))
}

/// Feature type of a column as XGBoost sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// A number.
    Numeric,
    /// A category code (0, 1, 2, ...), split natively by XGBoost.
    Categorical,
}

/// A dense matrix of features (row-major, NaN = missing) with optional labels and weights.
pub struct DMatrix {
    handle: sys::DMatrixHandle,
    rows: usize,
}

impl DMatrix {
    /// Builds a matrix from row-major `data` of `rows` rows; NaN marks a missing value.
    pub fn from_dense(
        data: &[f32],
        rows: usize,
        names: &[String],
        kinds: &[FeatureKind],
    ) -> Result<Self> {
        let cols = check_shape(data, rows, names, kinds)?;
        let mut handle = ptr::null_mut();
        // SAFETY: data holds rows*cols floats; handle is written on success.
        check(unsafe {
            sys::XGDMatrixCreateFromMat(
                data.as_ptr(),
                rows as u64,
                cols as u64,
                f32::NAN,
                &mut handle,
            )
        })?;
        let mut m = DMatrix { handle, rows };
        m.set_str_info("feature_name", names)?;
        m.set_str_info("feature_type", &feature_types(kinds))?;
        Ok(m)
    }

    fn set_str_info(&mut self, field: &str, values: &[String]) -> Result<()> {
        set_str_info(self.handle, field, values)
    }

    fn set_float_info(&mut self, field: &str, values: &[f32]) -> Result<()> {
        if values.len() != self.rows {
            return Err(ClaimsError::Xgboost(format!(
                "{field}: {} values for {} rows",
                values.len(),
                self.rows
            )));
        }
        let field = cstring(field)?;
        // SAFETY: values holds `rows` floats.
        check(unsafe {
            sys::XGDMatrixSetFloatInfo(
                self.handle,
                field.as_ptr(),
                values.as_ptr(),
                values.len() as u64,
            )
        })
    }

    /// Sets the labels (0/1 for binary classification).
    pub fn set_labels(&mut self, labels: &[f32]) -> Result<()> {
        self.set_float_info("label", labels)
    }

    /// Sets per-row weights.
    pub fn set_weights(&mut self, weights: &[f32]) -> Result<()> {
        self.set_float_info("weight", weights)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A new matrix of the rows at `indices` (labels, weights and feature types come along).
    pub fn slice_rows(&self, indices: &[usize]) -> Result<DMatrix> {
        let idx = indices
            .iter()
            .map(|&i| {
                i32::try_from(i)
                    .ok()
                    .filter(|_| i < self.rows)
                    .ok_or_else(|| ClaimsError::Xgboost(format!("row {i} is not in the matrix")))
            })
            .collect::<Result<Vec<i32>>>()?;
        let mut handle = ptr::null_mut();
        // SAFETY: idx holds idx.len() row numbers below `rows`; handle is written on success.
        check(unsafe {
            sys::XGDMatrixSliceDMatrix(self.handle, idx.as_ptr(), idx.len() as u64, &mut handle)
        })?;
        Ok(DMatrix {
            handle,
            rows: idx.len(),
        })
    }
}

/// The column count of a `rows`-row matrix of `data`, refused unless the sizes agree.
fn check_shape(
    data: &[f32],
    rows: usize,
    names: &[String],
    kinds: &[FeatureKind],
) -> Result<usize> {
    let cols = names.len();
    if rows == 0 || cols == 0 || data.len() != rows * cols || kinds.len() != cols {
        return Err(ClaimsError::Xgboost(format!(
            "cannot build a {rows}x{cols} matrix from {} values",
            data.len()
        )));
    }
    Ok(cols)
}

/// XGBoost's feature type codes for `kinds`.
fn feature_types(kinds: &[FeatureKind]) -> Vec<String> {
    kinds
        .iter()
        .map(|k| match k {
            FeatureKind::Numeric => "q".to_string(),
            FeatureKind::Categorical => "c".to_string(),
        })
        .collect()
}

/// Sets a string feature info field (`feature_name`, `feature_type`) on a matrix or proxy.
fn set_str_info(handle: sys::DMatrixHandle, field: &str, values: &[String]) -> Result<()> {
    let field = cstring(field)?;
    let owned: Vec<CString> = values.iter().map(|s| cstring(s)).collect::<Result<_>>()?;
    let mut ptrs: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
    // SAFETY: ptrs point into `owned`, alive for the call.
    check(unsafe {
        sys::XGDMatrixSetStrFeatureInfo(
            handle,
            field.as_ptr(),
            ptrs.as_mut_ptr(),
            ptrs.len() as u64,
        )
    })
}

impl Drop for DMatrix {
    fn drop(&mut self) {
        // SAFETY: handle was created by XGDMatrixCreateFromMat or XGDMatrixSliceDMatrix and
        // is freed once.
        unsafe {
            sys::XGDMatrixFree(self.handle);
        }
    }
}

/// A gradient-boosted tree model.
pub struct Booster {
    handle: sys::BoosterHandle,
}

// SAFETY: XGBoost keeps per-call output buffers in thread-local stores keyed by the learner,
// so a booster handle has no thread affinity; it is not Sync (calls mutate the learner).
unsafe impl Send for Booster {}

impl Booster {
    /// A new, untrained booster that caches `cache` (training and evaluation matrices) and has
    /// exactly the parameters given, in order, and no others.
    pub fn new(cache: &[&DMatrix], params: &[(String, String)]) -> Result<Self> {
        let handles: Vec<sys::DMatrixHandle> = cache.iter().map(|m| m.handle).collect();
        let mut handle = ptr::null_mut();
        // SAFETY: handles are live matrices; handle is written on success.
        check(unsafe {
            sys::XGBoosterCreate(handles.as_ptr(), handles.len() as u64, &mut handle)
        })?;
        let mut b = Booster { handle };
        for (k, v) in params {
            b.set_param(k, v)?;
        }
        Ok(b)
    }

    /// Sets one parameter.
    pub fn set_param(&mut self, name: &str, value: &str) -> Result<()> {
        let (n, v) = (cstring(name)?, cstring(value)?);
        // SAFETY: both strings are NUL-terminated and alive for the call.
        check(unsafe { sys::XGBoosterSetParam(self.handle, n.as_ptr(), v.as_ptr()) })
    }

    /// Names and types the booster's features (saved in the model, so Python's xgboost
    /// sees the categorical columns as categorical).
    pub fn set_features(&mut self, names: &[String], kinds: &[FeatureKind]) -> Result<()> {
        let types: Vec<String> = kinds
            .iter()
            .map(|k| {
                if *k == FeatureKind::Categorical {
                    "c".to_string()
                } else {
                    "q".to_string()
                }
            })
            .collect();
        for (field, values) in [("feature_name", names), ("feature_type", &types[..])] {
            let field = cstring(field)?;
            let owned: Vec<CString> = values.iter().map(|s| cstring(s)).collect::<Result<_>>()?;
            let mut ptrs: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
            // SAFETY: ptrs point into `owned`, alive for the call.
            check(unsafe {
                sys::XGBoosterSetStrFeatureInfo(
                    self.handle,
                    field.as_ptr(),
                    ptrs.as_mut_ptr(),
                    ptrs.len() as u64,
                )
            })?;
        }
        Ok(())
    }

    /// Runs boosting round `iteration` on `train`.
    pub fn update(&mut self, train: &DMatrix, iteration: i32) -> Result<()> {
        // SAFETY: both handles are live.
        check(unsafe { sys::XGBoosterUpdateOneIter(self.handle, iteration, train.handle) })
    }

    /// Evaluates the configured `eval_metric` on `data` after round `iteration`; returns the
    /// value of the last metric XGBoost reports (the one early stopping watches).
    pub fn eval(&self, data: &DMatrix, name: &str, iteration: i32) -> Result<f64> {
        let cname = cstring(name)?;
        let mut handles = [data.handle];
        let mut names = [cname.as_ptr()];
        let mut out: *const c_char = ptr::null();
        // SAFETY: arrays of length 1 with live handle and string; out is a thread-local string.
        check(unsafe {
            sys::XGBoosterEvalOneIter(
                self.handle,
                iteration,
                handles.as_mut_ptr(),
                names.as_mut_ptr(),
                1,
                &mut out,
            )
        })?;
        // SAFETY: XGBoost returns a NUL-terminated string on success.
        let text = unsafe { CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned();
        // "[3]\tvalid-logloss:0.41\tvalid-auc:0.9"
        text.rsplit('\t')
            .next()
            .and_then(|kv| kv.rsplit(':').next())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| ClaimsError::Xgboost(format!("cannot read evaluation output {text:?}")))
    }

    fn predict_raw(&self, data: &DMatrix, config: &str) -> Result<(Vec<f32>, Vec<u64>)> {
        let cfg = cstring(config)?;
        let mut shape: *const u64 = ptr::null();
        let mut dim: u64 = 0;
        let mut out: *const f32 = ptr::null();
        // SAFETY: handles live; out pointers are written on success and point to buffers
        // owned by the booster until its next call.
        check(unsafe {
            sys::XGBoosterPredictFromDMatrix(
                self.handle,
                data.handle,
                cfg.as_ptr(),
                &mut shape,
                &mut dim,
                &mut out,
            )
        })?;
        let shape: Vec<u64> = if shape.is_null() {
            vec![]
        } else {
            // SAFETY: XGBoost gives `dim` dimensions.
            unsafe { std::slice::from_raw_parts(shape, dim as usize) }.to_vec()
        };
        let len: u64 = shape.iter().product();
        let values = if out.is_null() || len == 0 {
            vec![]
        } else {
            // SAFETY: the result holds product(shape) floats.
            unsafe { std::slice::from_raw_parts(out, len as usize) }.to_vec()
        };
        Ok((values, shape))
    }

    /// Probability of the positive class for each row.
    pub fn predict(&self, data: &DMatrix) -> Result<Vec<f32>> {
        let cfg = r#"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#;
        Ok(self.predict_raw(data, cfg)?.0)
    }

    /// TreeSHAP contributions: `rows x (features + 1)` row-major, the last column the bias.
    pub fn contributions(&self, data: &DMatrix) -> Result<(Vec<f32>, usize)> {
        let cfg = r#"{"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#;
        let (v, shape) = self.predict_raw(data, cfg)?;
        let width = shape.last().copied().unwrap_or(0) as usize;
        Ok((v, width))
    }

    /// A new booster holding rounds `0..rounds` of this one.
    pub fn slice(&self, rounds: usize) -> Result<Booster> {
        let mut out = ptr::null_mut();
        // SAFETY: handle live; out is written on success.
        check(unsafe { sys::XGBoosterSlice(self.handle, 0, rounds as i32, 1, &mut out) })?;
        Ok(Booster { handle: out })
    }

    /// A new booster with rounds `begin..end` of this one.
    pub fn slice_range(&self, begin: usize, end: usize) -> Result<Booster> {
        let mut out = ptr::null_mut();
        // SAFETY: handle live; out is written on success.
        check(unsafe { sys::XGBoosterSlice(self.handle, begin as i32, end as i32, 1, &mut out) })?;
        Ok(Booster { handle: out })
    }

    /// Number of boosting rounds in the model.
    pub fn rounds(&self) -> Result<usize> {
        let mut n = 0;
        // SAFETY: handle live.
        check(unsafe { sys::XGBoosterBoostedRounds(self.handle, &mut n) })?;
        Ok(n as usize)
    }

    fn buffer(&self, call: impl FnOnce(*mut u64, *mut *const c_char) -> i32) -> Result<Vec<u8>> {
        let mut len: u64 = 0;
        let mut out: *const c_char = ptr::null();
        check(call(&mut len, &mut out))?;
        if out.is_null() {
            return Ok(vec![]);
        }
        // SAFETY: XGBoost gives `len` bytes owned by the booster until its next call.
        Ok(unsafe { std::slice::from_raw_parts(out as *const u8, len as usize) }.to_vec())
    }

    /// The model as XGBoost JSON (loads unchanged in Python's xgboost).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let cfg = cstring(r#"{"format": "json"}"#)?;
        let h = self.handle;
        // SAFETY: handle live; config NUL-terminated.
        self.buffer(|len, out| unsafe {
            sys::XGBoosterSaveModelToBuffer(h, cfg.as_ptr(), len, out)
        })
    }

    /// Loads a model saved by `to_json` (or by any XGBoost in JSON/UBJ).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut handle = ptr::null_mut();
        // SAFETY: creates an empty learner, then loads the buffer of `bytes.len()` bytes.
        check(unsafe { sys::XGBoosterCreate(ptr::null(), 0, &mut handle) })?;
        let b = Booster { handle };
        check(unsafe {
            sys::XGBoosterLoadModelFromBuffer(
                b.handle,
                bytes.as_ptr() as *const _,
                bytes.len() as u64,
            )
        })?;
        Ok(b)
    }

    /// A copy of this binary:logistic model whose every prediction's log-odds are moved
    /// by `offset` (its base score is shifted; trees, ranking and contributions unchanged).
    /// Returns the copy and its new base score. Threads and feature names are set again
    /// by the caller.
    pub fn with_shifted_base_margin(&self, offset: f64) -> Result<(Booster, f64)> {
        let bad = |why: String| ClaimsError::Xgboost(format!("shifting the base score: {why}"));
        let mut j: serde_json::Value =
            serde_json::from_slice(&self.to_json()?).map_err(|e| bad(e.to_string()))?;
        let slot = &mut j["learner"]["learner_model_param"]["base_score"];
        let text = slot.as_str().ok_or_else(|| bad("no base_score".into()))?;
        let base: f64 = text
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|e| bad(format!("base_score '{text}': {e}")))?;
        let margin = (base / (1.0 - base)).ln() + offset;
        let shifted = 1.0 / (1.0 + (-margin).exp());
        *slot = serde_json::Value::String(format!("[{:E}]", shifted as f32));
        let bytes = serde_json::to_vec(&j).map_err(|e| bad(e.to_string()))?;
        Ok((Booster::from_json(&bytes)?, f64::from(shifted as f32)))
    }

    /// The learner's full configuration as XGBoost holds it (JSON), to check what was sent.
    pub fn config_json(&self) -> Result<serde_json::Value> {
        let h = self.handle;
        // SAFETY: handle live.
        let bytes = self.buffer(|len, out| unsafe { sys::XGBoosterSaveJsonConfig(h, len, out) })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClaimsError::Xgboost(format!("config is not JSON: {e}")))
    }

    /// Importance of each feature by `kind` ("gain", "total_gain", "weight", "cover").
    pub fn feature_scores(&self, kind: &str) -> Result<Vec<(String, f32)>> {
        let cfg = cstring(&format!(r#"{{"importance_type": "{kind}"}}"#))?;
        let mut n: u64 = 0;
        let mut names: *mut *const c_char = ptr::null_mut();
        let mut dim: u64 = 0;
        let mut shape: *const u64 = ptr::null();
        let mut scores: *const f32 = ptr::null();
        // SAFETY: handle live; outputs written on success, owned by the booster.
        check(unsafe {
            sys::XGBoosterFeatureScore(
                self.handle,
                cfg.as_ptr(),
                &mut n,
                &mut names,
                &mut dim,
                &mut shape,
                &mut scores,
            )
        })?;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            // SAFETY: n names and n scores (dim 1 for a single-output model).
            let name = unsafe { CStr::from_ptr(*names.add(i)) }
                .to_string_lossy()
                .into_owned();
            let score = unsafe { *scores.add(i) };
            out.push((name, score));
        }
        Ok(out)
    }

    /// Sets the library's global verbosity (0 silent .. 3 debug).
    pub fn set_global_verbosity(level: u8) -> Result<()> {
        let cfg = cstring(&format!(r#"{{"verbosity": {level}}}"#))?;
        // SAFETY: config NUL-terminated.
        check(unsafe { sys::XGBSetGlobalConfig(cfg.as_ptr()) })
    }
}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: handle created by XGBoosterCreate/Slice and freed once.
        unsafe {
            sys::XGBoosterFree(self.handle);
        }
    }
}

/// The XGBoost library version linked at run time, e.g. (3, 2, 0).
pub fn library_version() -> (i32, i32, i32) {
    let (mut a, mut b, mut c) = (0, 0, 0);
    // SAFETY: writes three ints.
    unsafe { sys::XGBoostVersion(&mut a, &mut b, &mut c) };
    (a, b, c)
}
