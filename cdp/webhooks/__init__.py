"""Webhooks in and out: Shopify's mandatory privacy webhooks, and the outbox notifying downstream systems."""
