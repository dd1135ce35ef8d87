"""Answering: the reader (batched by adapter set, shared-prefix cache), the lm-eval model that
reads through a memory, and the judge."""
