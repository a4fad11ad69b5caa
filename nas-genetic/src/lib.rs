//! nas-genetic: filled by a later issue.
