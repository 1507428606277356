"""Benchmark scripts of tune_cifar; run each as ``python -m benchmarks.NAME`` from the repository root."""
