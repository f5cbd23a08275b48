"""The CLIP and SigLIP losses against the formulas computed by hand with NumPy on small explicit
matrices, and the published temperature / bias initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from local_backend.training.losses import (  # noqa: E402
    ClipLoss,
    SigLipLoss,
    clip_loss,
    make_loss,
    siglip_loss,
)

# Three unit vectors per side; image i belongs with text i.
IMAGES = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
TEXTS = np.array([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def _numpy_clip(images, texts, scale):
    logits = scale * images @ texts.T
    n = len(logits)

    def ce(rows):  # mean over rows of -log softmax(row)[diagonal]
        return np.mean([-(rows[i, i] - np.log(np.exp(rows[i]).sum())) for i in range(n)])

    return (ce(logits) + ce(logits.T)) / 2


def _numpy_siglip(images, texts, scale, bias):
    logits = scale * images @ texts.T + bias
    n = len(logits)
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = 1.0 if i == j else -1.0
            total += -np.log(1.0 / (1.0 + np.exp(-z * logits[i, j])))
    return total / n


def test_clip_loss_equals_hand_computed_symmetric_cross_entropy():
    expected = _numpy_clip(IMAGES, TEXTS, 10.0)
    assert float(clip_loss(_t(IMAGES), _t(TEXTS), 10.0)) == pytest.approx(expected, rel=1e-12)


def test_clip_loss_of_a_worked_two_by_two_example():
    # S = [[1, 0], [0, 1]] at scale 1: each row is softmax([1, 0]); loss = log(1 + e^-1).
    eye = np.eye(2)
    assert float(clip_loss(_t(eye), _t(eye), 1.0)) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-12)


def test_clip_loss_is_symmetric_in_images_and_texts():
    a = clip_loss(_t(IMAGES), _t(TEXTS), 5.0)
    b = clip_loss(_t(TEXTS), _t(IMAGES), 5.0)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_siglip_loss_equals_hand_computed_pairwise_sigmoid():
    expected = _numpy_siglip(IMAGES, TEXTS, 10.0, -10.0)
    assert float(siglip_loss(_t(IMAGES), _t(TEXTS), 10.0, -10.0)) == pytest.approx(expected, rel=1e-12)


def test_siglip_loss_with_other_scale_and_bias():
    expected = _numpy_siglip(IMAGES, TEXTS, 3.0, 0.5)
    assert float(siglip_loss(_t(IMAGES), _t(TEXTS), 3.0, 0.5)) == pytest.approx(expected, rel=1e-12)


def test_clip_initial_temperature_is_0_07_and_scale_is_capped_at_100():
    loss = ClipLoss()
    assert float(loss.scale.detach()) == pytest.approx(1 / 0.07)
    with torch.no_grad():
        loss.logit_scale.fill_(math.log(500.0))
    assert float(loss.scale.detach()) == pytest.approx(100.0)
    loss.clamp_()
    assert float(loss.logit_scale.detach()) == pytest.approx(math.log(100.0))


def test_clip_module_uses_its_learned_scale():
    loss = ClipLoss(init_scale=7.0)
    expected = _numpy_clip(IMAGES, TEXTS, 7.0)
    assert float(loss(_t(IMAGES).float(), _t(TEXTS).float()).detach()) == pytest.approx(expected, rel=1e-5)


def test_siglip_initialisation_is_log_10_and_minus_10():
    loss = SigLipLoss()
    assert float(loss.logit_scale.detach()) == pytest.approx(math.log(10.0))
    assert float(loss.logit_bias.detach()) == pytest.approx(-10.0)
    expected = _numpy_siglip(IMAGES, TEXTS, 10.0, -10.0)
    assert float(loss(_t(IMAGES).float(), _t(TEXTS).float()).detach()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_temperature_is_learnable(name):
    loss = make_loss(name)
    images = _t(IMAGES).float()
    loss(images, images).backward()
    assert loss.logit_scale.grad is not None and float(loss.logit_scale.grad) != 0.0


def test_better_aligned_pairs_have_lower_loss():
    assert float(clip_loss(_t(IMAGES), _t(IMAGES), 10.0)) < float(clip_loss(_t(IMAGES), _t(TEXTS), 10.0))
    assert float(siglip_loss(_t(IMAGES), _t(IMAGES), 10.0, -5.0)) < float(siglip_loss(_t(IMAGES), _t(TEXTS), 10.0, -5.0))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="paired vectors"):
        clip_loss(torch.zeros(3, 2), torch.zeros(2, 2), 1.0)


def test_unknown_loss_name_is_refused():
    with pytest.raises(ValueError, match="'clip' or 'siglip'"):
        make_loss("triplet")
