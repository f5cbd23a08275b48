"""patchify / unpatchify: shapes, row-major order, round trip, and equality with the
Conv2d patch embedding that Hugging Face ViT checkpoints use."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from local_backend.models.patchify import (  # noqa: E402
    conv_kernel_as_matrix,
    embed_patches,
    patch_grid,
    patchify,
    unpatchify,
)


def test_patchify_shape_is_batch_by_patches_by_patch_pixels():
    x = torch.zeros(2, 3, 32, 48)
    assert patchify(x, 8).shape == (2, (32 // 8) * (48 // 8), 8 * 8 * 3)


def test_patches_are_row_major_left_to_right_then_top_to_bottom():
    # Give every pixel the index of the patch it falls in; patch n must then be all n.
    rows, cols, p = 3, 4, 2
    grid = torch.arange(rows * cols, dtype=torch.float32).reshape(rows, cols)
    image = grid.repeat_interleave(p, 0).repeat_interleave(p, 1)[None, None]
    patches = patchify(image, p)
    for n in range(rows * cols):
        assert torch.all(patches[0, n] == n), f"patch {n} holds pixels of another patch"


def test_inside_a_patch_pixels_run_row_then_column_then_channel():
    c, p = 3, 2
    image = torch.arange(c * p * p, dtype=torch.float32).reshape(1, c, p, p)
    vec = patchify(image, p)[0, 0]
    expected = [image[0, ch, r, q].item() for r in range(p) for q in range(p) for ch in range(c)]
    assert vec.tolist() == expected


def test_unpatchify_inverts_patchify_exactly():
    x = torch.randn(3, 4, 24, 16)
    assert torch.equal(unpatchify(patchify(x, 8), 8, 24, 16), x)


def test_patchify_inverts_unpatchify_exactly():
    patches = torch.randn(2, 6, 4 * 4 * 3)
    assert torch.equal(patchify(unpatchify(patches, 4, 8, 12), 4), patches)


def test_image_sides_must_be_multiples_of_the_patch_size():
    with pytest.raises(ValueError, match="multiples of 8"):
        patchify(torch.zeros(1, 3, 30, 32), 8)


def test_unpatchify_refuses_a_patch_count_that_does_not_tile_the_image():
    with pytest.raises(ValueError, match="do not tile"):
        unpatchify(torch.zeros(1, 5, 48), 4, 8, 8)


def test_patch_grid_counts_rows_and_columns():
    assert patch_grid(224, 160, 16) == (14, 10)


@pytest.mark.parametrize("bias", [True, False])
def test_strided_conv_equals_patchify_then_matmul_with_reshaped_kernel(bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 20, kernel_size=8, stride=8, bias=bias)
    x = torch.randn(2, 3, 32, 40)
    reference = conv(x).flatten(2).transpose(1, 2)
    ours = patchify(x, 8) @ conv_kernel_as_matrix(conv.weight) + (conv.bias if bias else 0)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(embed_patches(x, conv.weight, conv.bias), reference, rtol=1e-5, atol=1e-5)


def test_kernel_matrix_rows_follow_the_patch_vector_layout():
    # Row k of the matrix must weigh entry k of a patch vector: a one-hot patch picks that row.
    torch.manual_seed(1)
    weight = torch.randn(5, 3, 2, 2)
    matrix = conv_kernel_as_matrix(weight)
    for k in range(2 * 2 * 3):
        one_hot = torch.zeros(1, 1, 12)
        one_hot[0, 0, k] = 1.0
        image = unpatchify(one_hot, 2, 2, 2)
        conv_out = torch.nn.functional.conv2d(image, weight, stride=2).flatten()
        torch.testing.assert_close(conv_out, matrix[k])
