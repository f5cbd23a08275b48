"""Contrastive training of projection heads over frozen local encoders.

* :mod:`.losses`: the CLIP (symmetric InfoNCE) and SigLIP (pairwise sigmoid) losses.
* :mod:`.projection_heads`: linear / MLP heads, saved as weights plus a JSON of metadata.
* :mod:`.data`: image-caption pairs from a folder and a JSONL file.
* :mod:`.train`: encode the pairs once with the frozen towers, then fit the heads.
* :mod:`.projected_model`: trained heads on their towers, as a local model
  (``get_embedder("local", model="projected", heads=PATH)``).

The command line is ``vertex-mm train-projection``. Nothing here is imported by
``import local_backend``; torch loads only when training or a projected model is used.
"""
