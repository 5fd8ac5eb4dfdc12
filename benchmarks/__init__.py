"""Benchmarks: suites, runner, leaderboard, micro-benchmarks."""
