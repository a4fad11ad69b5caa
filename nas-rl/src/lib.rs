//! nas-rl: filled by a later issue.
