//! Monitoring: the reference profile of the training data saved with each model, against
//! which later inputs and scores are compared for drift.

pub mod profile;
