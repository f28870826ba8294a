"""Benchmarks of the ingest pipeline (``make bench``); see ``benchmarks/run.py``."""
