"""labctl's benchmarks: `python -m benchmarks` (see BENCHMARKS.md). Ratios measured in one run."""
