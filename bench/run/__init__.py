"""Runs: one run (write, read, score), its record (the only module that knows the JSON), the
environment, the retention probe, and the one door to the memory registry."""
