//! nas-bench: filled by a later issue.
