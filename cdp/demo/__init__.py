"""Deterministic demo data (customers, events, ground truth) for tests, benchmarks and demos."""

from cdp.demo.generate import DemoDataset, DemoPerson, generate_demo, generate_demo_events, write_jsonl

__all__ = ["DemoDataset", "DemoPerson", "generate_demo", "generate_demo_events", "write_jsonl"]
