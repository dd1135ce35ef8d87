"""Tasks through lm-eval: discovery, scoring helpers, task data files and bring-your-own-knowledge tasks."""
