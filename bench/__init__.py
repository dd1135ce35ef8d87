"""KMBench: LoRA, RAG and ICL compared as knowledge memories on one budget.

Layers, bottom to top (tests/test_layers.py keeps imports pointing down): core (the memory
contract), harness (tasks via lm-eval), model, answer, parts, then `baselines/`, run, report,
study, board and the CLI.
"""
