"""Benchmarks of trialstore against Optuna 5.0 (``python -m bench``; see docs/performance.md)."""
