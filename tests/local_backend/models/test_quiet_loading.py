"""Local models load without transformers' "Loading weights" bar, and real warnings still show."""

from __future__ import annotations

import logging

import pytest

transformers = pytest.importorskip("transformers")
from transformers.utils import logging as hf_logging  # noqa: E402

from local_backend.models.quiet_loading import quiet_weight_loading  # noqa: E402


@pytest.fixture(autouse=True)
def transformers_defaults():
    """transformers' logging settings are process-wide and other tests' helpers silence them
    (tests/support/tiny_hf_checkpoints.py): start each test here from the library's defaults."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_warning()
    hf_logging.enable_progress_bar()
    yield
    hf_logging.set_verbosity(verbosity)
    (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A real (random) BERT checkpoint on disk, without the masked-LM head."""
    folder = tmp_path_factory.mktemp("bert")
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=37, vocab_size=99)
    transformers.BertModel(cfg).save_pretrained(folder)
    return str(folder)


def test_the_bar_shows_without_the_guard_and_not_with_it(tiny_bert, capfd):
    transformers.BertModel.from_pretrained(tiny_bert, local_files_only=True)
    assert "Loading weights" in capfd.readouterr().err  # the noise this guards against
    with quiet_weight_loading():
        transformers.BertModel.from_pretrained(tiny_bert, local_files_only=True)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is back


def test_missing_weights_are_still_reported(tiny_bert):
    # transformers logs through its own handler (no propagation), so listen on its logger.
    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign]
    logger = hf_logging.get_logger("transformers")
    logger.addHandler(listener)
    try:
        with quiet_weight_loading():
            transformers.BertForMaskedLM.from_pretrained(tiny_bert, local_files_only=True)
    finally:
        logger.removeHandler(listener)
    text = "\n".join(r.getMessage() for r in records)
    assert "LOAD REPORT" in text and "MISSING" in text


def test_a_user_who_turned_bars_off_keeps_them_off():
    from huggingface_hub import utils as hub_utils

    hf_logging.disable_progress_bar()
    try:
        with quiet_weight_loading():
            with quiet_weight_loading():  # nested loads (ConSE loads two towers)
                pass
        assert not hf_logging.is_progress_bar_enabled() and hub_utils.are_progress_bars_disabled()
    finally:
        hf_logging.enable_progress_bar()


@pytest.mark.slow
def test_the_minilm_text_tower_loads_quietly(capfd):
    from local_backend.models.minilm import MiniLMTextEncoder

    MiniLMTextEncoder()  # a fresh load, not the shared per-process model
    assert "Loading weights" not in capfd.readouterr().err
