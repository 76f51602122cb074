"""Tune: search a candidate's deployment configurations (export, threads, quantization) and
ship the cheapest variant that keeps its quality and meets the limits. See docs/tune.md."""
