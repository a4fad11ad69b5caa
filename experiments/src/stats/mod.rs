//! Statistics for comparing strategies (filled by the runner issue).
