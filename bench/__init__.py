"""Benchmarks against the native tools (DESIGN.md, "Performance targets"); see run.py."""
