"""Our PIL+NumPy preprocessing against transformers' own image processors, including the
legacy config shapes real checkpoints ship (int sizes, "FeatureExtractor" class names)."""

from __future__ import annotations

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
data = pytest.importorskip("skimage.data")
from PIL import Image  # noqa: E402

from local_backend.models.hf_preprocess import OPENAI_CLIP_MEAN, ImagePreprocess  # noqa: E402
from vertex_mm.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def images():
    astronaut = Image.fromarray(data.astronaut())
    return [
        astronaut,                                       # square
        Image.fromarray(data.rocket()),                  # landscape
        Image.fromarray(data.chelsea()).rotate(90, expand=True),  # portrait
        astronaut.resize((20, 14)),                      # smaller than the crop: upscaled
    ]


# The preprocessor_config.json of well-known checkpoints, as they are published (abridged).
OPENAI_CLIP = {"crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
               "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": list(OPENAI_CLIP_MEAN),
               "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}
SIGLIP = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
          "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5], "resample": 3,
          "rescale_factor": 1 / 255, "size": {"height": 224, "width": 224}}
DINOV2 = {"crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_normalize": True, "do_rescale": True,
          "do_resize": True, "image_mean": [0.485, 0.456, 0.406], "image_processor_type": "BitImageProcessor",
          "image_std": [0.229, 0.224, 0.225], "resample": 3, "rescale_factor": 1 / 255, "size": {"shortest_edge": 256}}
VIT_IN21K = {"do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
             "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224}

CASES = [
    (OPENAI_CLIP, "CLIPImageProcessorPil"),
    (SIGLIP, "SiglipImageProcessorPil"),
    (DINOV2, "BitImageProcessorPil"),
    (VIT_IN21K, "ViTImageProcessorPil"),
]


@pytest.mark.parametrize("config,reference", CASES, ids=["openai-clip", "siglip", "dinov2", "vit-in21k"])
def test_published_configs_give_the_pixels_transformers_gives(images, config, reference):
    # transformers reads the same dict (legacy int sizes included) with the class it names.
    processor = getattr(transformers, reference)(**{k: v for k, v in config.items() if not k.endswith("_type")})
    rgb = [img.convert("RGB") for img in images]
    expected = processor(rgb, return_tensors="np")["pixel_values"]
    ours = ImagePreprocess.from_config(config)(rgb)
    assert ours.shape == expected.shape == (len(images), 3, 224, 224)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)


def test_legacy_int_sizes_follow_the_class_square_rule():
    clip = ImagePreprocess.from_config(OPENAI_CLIP)
    vit = ImagePreprocess.from_config(VIT_IN21K)
    assert dict(clip.size) == {"shortest_edge": 224} and clip.output_size == (224, 224)
    assert dict(vit.size) == {"height": 224, "width": 224}


def test_grayscale_and_rgba_images_become_rgb(images):
    prep = ImagePreprocess.from_config(SIGLIP)
    gray = Image.fromarray(data.camera())
    rgba = images[0].convert("RGBA")
    assert prep([gray, rgba]).shape == (2, 3, 224, 224)
    np.testing.assert_array_equal(prep([rgba])[0], prep([images[0]])[0])


def test_missing_keys_take_the_named_class_defaults():
    prep = ImagePreprocess.from_config({"image_processor_type": "CLIPImageProcessorFast"})
    assert prep.image_mean == OPENAI_CLIP_MEAN and prep.do_center_crop and prep.resample == 3


def test_a_varying_output_size_is_refused_up_front():
    with pytest.raises(InputError, match="varying size"):
        ImagePreprocess.from_config({**DINOV2, "do_center_crop": False})


def test_an_empty_batch_has_the_output_shape():
    assert ImagePreprocess.from_config(DINOV2)([]).shape == (0, 3, 224, 224)
