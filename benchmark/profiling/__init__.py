"""Profiling: how fast the reader, the Viterbi decoder, a model and its fit run (``bench profile``).

Sits above ``benchmark.run`` and may import model code (it builds models to time them); nothing
below imports it."""
