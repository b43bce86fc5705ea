"""Doors for sellers' systems: Shopify data webhooks, Amazon order reports, a Segment-spec intake."""
