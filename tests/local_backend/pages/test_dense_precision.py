"""DenseScorer's precision: bfloat16 autocast through the text tower keeps the passage vectors,
and asking for it on a CPU that only emulates bfloat16 warns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from local_backend.pages import dense
from local_backend.pages.dense import DenseScorer
from vertex_mm.errors import EmulatedBfloat16Warning

PAGES = [("Quarterly revenue grew eleven percent while operating costs fell; the board approved a new dividend "
          "policy and a share buyback programme for the coming fiscal year.").split() * 3,
         "The cat sat on the mat near the garden door while rain fell on the roof.".split() * 4]


def test_bfloat16_passages_agree_with_float32(monkeypatch):
    monkeypatch.setattr(dense, "cpu_has_native_bf16", lambda: True)  # no warning: this checks the numbers
    fp32 = DenseScorer(precision="fp32").fit(PAGES, [[], []])
    bf16 = DenseScorer(fp32.encoder, precision="bf16").fit(PAGES, [[], []])
    a, b = fp32.arrays()["vectors"], bf16.arrays()["vectors"]
    assert a.shape == b.shape
    assert float(np.min(np.sum(a * b, axis=1))) > 0.995  # unit rows: cosines
    queries = ["dividend policy", "a cat on a mat"]
    assert (fp32.scores_many(queries).argmax(axis=1) == bf16.scores_many(queries).argmax(axis=1)).all()


def test_bfloat16_on_a_cpu_that_emulates_it_warns_at_the_callers_line(monkeypatch):
    monkeypatch.setattr(dense, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(EmulatedBfloat16Warning, match="precision='bf16' on a CPU without native bfloat16") as caught:
        DenseScorer(object(), precision="bf16")
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DenseScorer(object(), precision="auto")
        DenseScorer(object(), precision="fp32")
        gpu_encoder = type("OnGpu", (), {"device": torch.device("cuda")})()  # the CPU's bfloat16 is not used there
        DenseScorer(gpu_encoder, precision="bf16")
