"""Retention: delete what outlived its period (policies/retention.yaml), audited."""
