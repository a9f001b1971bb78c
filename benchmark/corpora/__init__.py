"""Corpora and reading: files -> sentences, the corpus layout, images, Table 2 statistics."""
