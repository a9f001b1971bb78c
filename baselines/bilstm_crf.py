"""BiLSTM-CRF (Huang, Xu & Yu 2015): word embeddings -> BiLSTM -> CRF.

Architecture as the paper (recipe and trials: ``baselines/lstm_recipes.md``): no hand-crafted spelling/context features,
one BiLSTM layer, a linear emission layer and a CRF (start/end scores, constrained decoding). The CRF
learns BIOES tags (``label_scheme=bioes``: IOB2 gold converted, predictions converted back to IOB2
before scoring; Huang et al. do not name a scheme, Lample et al. and NCRF++ use BIOES);
``label_scheme=iob2`` trains on the dataset's IOB2 tags as the suite did before.

Paper-scale recipe (issue 11 item 7; see ``results/experiments/README.md`` for the runs behind it):

* Word vectors: ``embeddings="auto"`` — GloVe ``glove.6B.300d`` when it is in the weights folder
  (``$MMNER_WEIGHTS_DIR``; the 2M-NER paper's choice), otherwise 100-d skip-gram word2vec trained
  on the training split only (20 epochs, window 5). GloVe cannot be downloaded here, so every
  stored run uses word2vec; the result records which (``counts.notes.embedding_source``).
* Vocabulary: the training words; a lower-cased fallback row exists only where a pretrained vector
  does (a row without gradient and without a vector is random noise); training singletons are
  replaced by ``<unk>`` with probability 0.5, so ``<unk>``, which every unseen test word maps to, is
  trained.
* BiLSTM 100 per direction (200 units), dropout 0.5 on its input and output; Adam lr 1e-3 (constant)
  with the word table updated lazily (``optimizer=lazy_adam``: only the rows of a batch's words
  step, which keeps an epoch near the SGD recipe's cost; dense Adam over the 35k-row table tripled
  it), batch 10 (sentences of similar length batched together), CRF loss summed over the batch,
  gradient norm clipped at 50, L2 1e-8; at most 28 epochs, stopping after 6 without dev
  improvement; the test score at the best dev epoch.

Departures from Huang et al.'s stated settings (SENNA 50-d vectors, hidden 300, SGD lr 0.1, batch
100, ~10 epochs) and from the NCRF++ defaults used before (300-d vectors, SGD lr 0.015 with
1/(1+0.05e) decay): without GloVe the embeddings must be learnt from 20k sentences, where
the SGD recipe reached 59.4 test F1 in 23 epochs (one seed: ``results/experiments/runs/bilstm-crf/886bdf610bfcc8c6``) and an Adam
probe 61; Adam converges in fewer epochs: a seed takes 7-13 minutes on one CPU core
(``baselines/lstm_recipes.md``, trial 10).
A first attempt with 200 per direction had not finished its first epoch after 190 CPU-seconds
(word2vec included), too slow for the 15-minute budget. Every setting is an ``--hp`` switch
(``optimizer=sgd lr=0.015 lr_decay=0.05 embedding_dim=300 w2v_epochs=10 epochs=30 patience=8 label_scheme=iob2``
restores the former recipe).
"""
from __future__ import annotations

from baselines.layers.lstm import LSTMCRFTagger


class BiLSTMCRF(LSTMCRFTagger):
    """Word-only LSTM-CRF; all layers are the shared NCRF++-style ones."""
