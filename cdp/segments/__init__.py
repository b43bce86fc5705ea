"""Segments: declarative definitions, SQL membership with entry/exit times, consented audiences, aggregates."""
