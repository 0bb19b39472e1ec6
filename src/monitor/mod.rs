//! Monitoring: the reference profile of the training data saved with each model, and the
//! drift of each day's inputs and scores against it (PSI, KS, chi-square).

pub mod drift;
pub mod profile;
