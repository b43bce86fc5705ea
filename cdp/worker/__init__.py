"""Background doors: loops that deliver what services queued, each step its own transaction."""
