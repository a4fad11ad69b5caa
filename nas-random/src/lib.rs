//! nas-random: filled by a later issue.
