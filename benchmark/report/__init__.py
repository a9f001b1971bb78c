"""Reporting: rendering the tables (Markdown, LaTeX, CSV), plots, significance, the README block."""
