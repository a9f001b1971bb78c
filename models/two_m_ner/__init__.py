"""2M-NER (Wang, Feng, Liu & Wang, 2024): the paper's model, its Table 7/9 variants and the
authors'-code recipe. Import ``models.two_m_ner.model.TwoMNER`` for the tagger; this package
``__init__`` imports nothing heavy (the registry reads ``models.two_m_ner.hparams``)."""
