"""`make perf`: what the benchmark's own code paths reach on this machine, as ratios to its matmul peak.

Absolute seconds do not compare across machines; shares of the same machine's peak and ratios
between two measurements taken in the same process do. `suite.run_perf` takes them all
(named presets in `config`, peak in `peak`, training in `training`, reading in `reading`, ratios
and targets in `quantities`); `bench.report.perf` prints the table.
"""
