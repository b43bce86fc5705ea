"""Identity resolution as governed operations: merges, unmerges, review decisions, suggestions."""
