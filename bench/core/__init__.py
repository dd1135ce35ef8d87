"""The contract every layer shares: the memory interface and its types, configs, errors,
paths and JSONL files. It imports nothing above it."""
