//! nas-eval: filled by a later issue.
