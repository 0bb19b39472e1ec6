//! The trees of an XGBoost JSON model (`gbtree`) as `shap` walks them: the JSON layout it
//! reads, [`Tree`] (struct of arrays, with its depth, features and stump values), the decision
//! a row takes at a node (XGBoost's `GetNextNode`, categorical splits included), and [`Kind`],
//! how each tree is walked (a leaf, a flattened [`Stump`], or the full recursion).

use serde::Deserialize;

use crate::error::{ClaimsError, Result};

/// Category values at or above this are invalid in XGBoost (2^24 - 1) and go left.
const MAX_CAT: f32 = 16_777_215.0;

#[derive(Deserialize)]
pub(super) struct JsonModel {
    pub(super) learner: JsonLearner,
}
#[derive(Deserialize)]
pub(super) struct JsonLearner {
    pub(super) gradient_booster: JsonBooster,
    #[serde(default)]
    pub(super) objective: Option<JsonObjective>,
    #[serde(default)]
    pub(super) learner_model_param: Option<JsonModelParam>,
}
#[derive(Deserialize)]
pub(super) struct JsonObjective {
    pub(super) name: String,
}
#[derive(Deserialize)]
pub(super) struct JsonModelParam {
    pub(super) base_score: String,
}
#[derive(Deserialize)]
pub(super) struct JsonBooster {
    pub(super) model: JsonTrees,
}
#[derive(Deserialize)]
pub(super) struct JsonTrees {
    pub(super) trees: Vec<JsonTree>,
}

#[derive(Deserialize)]
pub(super) struct JsonTree {
    left_children: Vec<i32>,
    right_children: Vec<i32>,
    split_indices: Vec<u32>,
    split_conditions: Vec<f32>,
    default_left: Vec<u8>,
    sum_hessian: Vec<f32>,
    #[serde(default)]
    split_type: Vec<u8>,
    #[serde(default)]
    categories: Vec<u32>,
    #[serde(default)]
    categories_nodes: Vec<u32>,
    #[serde(default)]
    categories_segments: Vec<u64>,
    #[serde(default)]
    categories_sizes: Vec<u64>,
}

/// One tree, struct of arrays indexed by node id.
pub(super) struct Tree {
    pub(super) left: Vec<i32>,
    pub(super) right: Vec<i32>,
    pub(super) feature: Vec<u32>,
    /// Split threshold of inner nodes; leaf value of leaves.
    pub(super) value: Vec<f32>,
    default_left: Vec<bool>,
    pub(super) cover: Vec<f32>,
    /// For categorical splits: (start, len) into `categories` of the set that goes right.
    cat_range: Vec<Option<(usize, usize)>>,
    /// For categorical splits whose set holds only codes below 64: the set as a bit mask.
    cat_mask: Vec<Option<u64>>,
    categories: Vec<u32>,
    pub(super) depth: usize,
    /// The features the tree splits on, once each.
    pub(super) used: Vec<usize>,
    /// For a stump: its feature's SHAP value when a row goes left, and when it goes right.
    stump: [f32; 2],
}

impl Tree {
    pub(super) fn from_json(t: JsonTree, width: usize, index: usize) -> Result<Tree> {
        let n = t.left_children.len();
        let bad = |what: &str| ClaimsError::Registry(format!("model.json: tree {index}: {what}"));
        if n == 0
            || [
                t.right_children.len(),
                t.split_indices.len(),
                t.split_conditions.len(),
                t.default_left.len(),
                t.sum_hessian.len(),
            ]
            .iter()
            .any(|&l| l != n)
        {
            return Err(bad("node arrays of different lengths"));
        }
        let mut cat_range = vec![None; n];
        for (k, &node) in t.categories_nodes.iter().enumerate() {
            let (start, len) = (
                *t.categories_segments
                    .get(k)
                    .ok_or_else(|| bad("categories"))? as usize,
                *t.categories_sizes.get(k).ok_or_else(|| bad("categories"))? as usize,
            );
            if node as usize >= n || start + len > t.categories.len() {
                return Err(bad("categories out of range"));
            }
            cat_range[node as usize] = Some((start, len));
        }
        for (i, range) in cat_range.iter_mut().enumerate() {
            let (l, r) = (t.left_children[i], t.right_children[i]);
            if l >= 0 {
                if l as usize >= n || r < 0 || r as usize >= n || l as usize <= i {
                    return Err(bad("children out of range"));
                }
                if t.split_indices[i] as usize >= width {
                    return Err(bad("split on a feature the model does not have"));
                }
                if t.split_type.get(i).copied().unwrap_or(0) == 1 && range.is_none() {
                    *range = Some((0, 0));
                }
            }
        }
        let cat_mask = cat_range
            .iter()
            .map(|range| {
                let (start, len) = (*range)?;
                let cats = &t.categories[start..start + len];
                cats.iter()
                    .all(|&c| c < 64)
                    .then(|| cats.iter().fold(0u64, |m, &c| m | (1 << c)))
            })
            .collect();
        let mut tree = Tree {
            left: t.left_children,
            right: t.right_children,
            feature: t.split_indices,
            value: t.split_conditions,
            default_left: t.default_left.iter().map(|&d| d != 0).collect(),
            cover: t.sum_hessian,
            cat_range,
            cat_mask,
            categories: t.categories,
            depth: 0,
            used: vec![],
            stump: [0.0; 2],
        };
        tree.depth = tree.depth_of(0);
        let mut used: Vec<usize> = (0..n)
            .filter(|&i| tree.left[i] >= 0)
            .map(|i| tree.feature[i] as usize)
            .collect();
        used.sort_unstable();
        used.dedup();
        tree.used = used;
        if tree.depth == 1 {
            // The recursion on a stump reduces to this, with the same f32 operations (the
            // path weights are exactly 1 and the zero fractions are the covers' shares), so
            // the values are bit-identical; they depend only on the side a row takes.
            let (l, r) = (tree.left[0] as usize, tree.right[0] as usize);
            let w = tree.cover[0];
            let side = |hot: usize, cold: usize| {
                let hot_zero = tree.cover[hot] / w;
                let cold_zero = tree.cover[cold] / w;
                (1.0 - hot_zero) * tree.value[hot] + (0.0 - cold_zero) * tree.value[cold]
            };
            tree.stump = [side(l, r), side(r, l)];
        }
        Ok(tree)
    }

    /// How to walk this tree (the `i`th).
    pub(super) fn kind(&self, i: usize) -> Kind {
        match self.depth {
            0 => Kind::Leaf(self.value[0]),
            1 => {
                let (l, r) = (self.left[0] as usize, self.right[0] as usize);
                let cat_mask = match self.cat_range[0] {
                    None => None,
                    Some((start, len)) => {
                        let cats = &self.categories[start..start + len];
                        if cats.iter().any(|&c| c >= 64) {
                            return Kind::Deep(i);
                        }
                        Some(cats.iter().fold(0u64, |m, &c| m | (1 << c)))
                    }
                };
                Kind::Stump(Stump {
                    feature: self.feature[0] as usize,
                    threshold: self.value[0],
                    default_right: !self.default_left[0],
                    cat_mask,
                    leaf: [self.value[l], self.value[r]],
                    phi: self.stump,
                })
            }
            _ => Kind::Deep(i),
        }
    }

    fn depth_of(&self, node: usize) -> usize {
        if self.left[node] < 0 {
            0
        } else {
            1 + self
                .depth_of(self.left[node] as usize)
                .max(self.depth_of(self.right[node] as usize))
        }
    }

    /// The value of the leaf row `x` reaches.
    #[inline]
    pub(super) fn leaf_of(&self, x: &[f32]) -> f32 {
        let mut node = 0;
        while self.left[node] >= 0 {
            node = self.next(node, x[self.feature[node] as usize]);
        }
        self.value[node]
    }

    /// The child a row with value `v` goes to (XGBoost's `GetNextNode`).
    #[inline]
    pub(super) fn next(&self, node: usize, v: f32) -> usize {
        let (l, r) = (self.left[node] as usize, self.right[node] as usize);
        if v.is_nan() {
            return if self.default_left[node] { l } else { r };
        }
        if let Some((start, len)) = self.cat_range[node] {
            // Categories in the node's set go right; anything else (and invalid codes) left.
            if !(0.0..MAX_CAT).contains(&v) {
                return l;
            }
            let c = v as u32;
            let right = match self.cat_mask[node] {
                Some(mask) => c < 64 && (mask >> c) & 1 == 1,
                None => self.categories[start..start + len]
                    .binary_search(&c)
                    .is_ok(),
            };
            return if right { r } else { l };
        }
        if v < self.value[node] { l } else { r }
    }
}

/// A stump flattened into one small struct (the common shallow case walks no arrays).
#[derive(Clone, Copy)]
pub(super) struct Stump {
    pub(super) feature: usize,
    /// Numeric threshold (left if value < threshold).
    threshold: f32,
    default_right: bool,
    /// Categorical split on codes below 64: bit c set = category c goes right.
    cat_mask: Option<u64>,
    /// Leaf value when the row goes left, right.
    pub(super) leaf: [f32; 2],
    /// The feature's SHAP value when the row goes left, right.
    pub(super) phi: [f32; 2],
}

impl Stump {
    /// Whether row `x` goes right (the same decision as `Tree::next`).
    #[inline]
    pub(super) fn goes_right(&self, x: &[f32]) -> bool {
        self.value_goes_right(x[self.feature])
    }

    /// Whether a row whose value of the stump's feature is `v` goes right.
    #[inline]
    fn value_goes_right(&self, v: f32) -> bool {
        if v.is_nan() {
            self.default_right
        } else if let Some(mask) = self.cat_mask {
            (0.0..64.0).contains(&v) && (mask >> (v as u32)) & 1 == 1
        } else {
            v >= self.threshold
        }
    }

    /// Adds the leaf value each of `N` rows reaches to its sum, given the rows' values of
    /// the stump's feature: the same decisions as [`Stump::goes_right`], written without
    /// branches for a numeric split so the compiler can take the rows in SIMD lanes.
    #[inline]
    pub(super) fn add_leaves<const N: usize>(&self, values: &[f32; N], sums: &mut [f32; N]) {
        let [left, right] = self.leaf;
        match self.cat_mask {
            None => {
                let (t, dr) = (self.threshold, self.default_right);
                for (m, &v) in sums.iter_mut().zip(values) {
                    // NaN compares false, so it goes right only by default.
                    let r = (v >= t) | (v.is_nan() & dr);
                    *m += if r { right } else { left };
                }
            }
            Some(_) => {
                for (m, &v) in sums.iter_mut().zip(values) {
                    *m += if self.value_goes_right(v) {
                        right
                    } else {
                        left
                    };
                }
            }
        }
    }
}

/// How [`TreeExplainer::row`](super::shap::TreeExplainer::row) handles each tree, in model order.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// A single leaf.
    Leaf(f32),
    /// A stump that fits [`Stump`].
    Stump(Stump),
    /// Anything else: the full recursion over `trees[i]`.
    Deep(usize),
}
