"""Pure scoring and statistics (no I/O). Filled in by the scoring issue."""
