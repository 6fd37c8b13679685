"""The benchmarks against PyTorch CPU: `make bench`, or `python -m bench [--help]` from the repository root.

- `run.py`: the command (every layer, the training steps, memory, `--configs`, `--models`, `--threads`);
- `models.py`: the networks timed and their PyTorch twins, checked to compute the same first;
- `scaling.py`: the training step at several thread counts, each side in processes of its own.
"""
