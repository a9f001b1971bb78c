"""Reporting: the paper's tables as data, rendering (Markdown, LaTeX, CSV), the README block."""
