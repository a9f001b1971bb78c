"""Corpora and reading: files -> sentences, the corpus layout, images."""
