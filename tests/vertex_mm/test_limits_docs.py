"""The limits that follow Google's current pages (audit of 2026-12, items D1, D2, D3, D11):
gemini-embedding-2's seven image formats (HEIC/HEIF/AVIF told apart by their ftyp brands),
its 16384-pixel side limit, MOV videos, and the superseded preview id. Real files made with
Pillow and PyAV; the emulator answers from the same table."""

from __future__ import annotations

import io
import warnings

import pytest
from factories import image_bytes, mp4_bytes

from vertex_mm import Image, Video
from vertex_mm.errors import ImageTooLargeError, InvalidImageError, InvalidVideoError
from vertex_mm.limits import (
    GEMINI_EMBEDDING_2,
    MULTIMODAL_EMBEDDING_001,
    check_image_bytes,
    check_video_bytes,
    checks,
    formats,
    limits_for,
    model_names,
    pillow_decodes,
    resolve_model,
    sniff_image_format,
    sniff_media,
)
from vertex_mm.limits import models as limit_models
from vertex_mm.wire import EmbedRequest

AVIF_DECODER = pillow_decodes("AVIF")
needs_avif = pytest.mark.skipif(not AVIF_DECODER, reason="this Pillow has no AVIF codec (libavif)")


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body


def _rebrand(avif: bytes, major: bytes, *compatible: bytes) -> bytes:
    """``avif`` with its ftyp box replaced: the same HEIF container, other brands."""
    size = int.from_bytes(avif[:4], "big")
    return _ftyp(major, *compatible) + avif[size:]


def _claiming(heif: bytes, width: int, height: int) -> bytes:
    """``heif`` whose ``ispe`` box (image spatial extents) says ``width`` x ``height``."""
    at = heif.index(b"ispe")
    return heif[:at + 8] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + heif[at + 16:]


@pytest.fixture(scope="module")
def avif() -> bytes:
    if not AVIF_DECODER:
        pytest.skip("this Pillow cannot write AVIF (no libavif)")
    return image_bytes("AVIF", size=(40, 30))


@pytest.fixture(scope="module")
def heic(avif) -> bytes:
    """A HEIF container branded HEIC, as an iPhone writes (major heic, compatible mif1 heic):
    no Pillow decoder here takes it, which is the point."""
    return _rebrand(avif, b"heic", b"mif1", b"heic")


def _mov_bytes(seconds: float = 1.0) -> bytes:
    """A real QuickTime (.mov) H.264 video, made with PyAV."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mov") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * 4)):
            frame = np.full((16, 16, 3), 60 * i % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def content(*parts, **kw):
    return EmbedRequest.create_content(list(parts), limits=GEMINI_EMBEDDING_2, **kw)


# -- D2: sniffing the HEIF family apart -----------------------------------------------------------


@pytest.mark.parametrize("head,fmt", [
    (_ftyp(b"avif", b"mif1", b"miaf"), "AVIF"),
    (_ftyp(b"avis", b"msf1"), "AVIF"),
    (_ftyp(b"mif1", b"mif1", b"avif"), "AVIF"),  # the AVIF brand only among the compatible ones
    (_ftyp(b"mif1", b"msf1", b"avio"), "AVIF"),  # an intra-only AVIF sequence
    (b"\x00\x00\x00\x00" + _ftyp(b"mif1", b"mif1", b"avif")[4:], "AVIF"),  # ftyp size 0: to the end
    (_ftyp(b"heic", b"mif1", b"heic"), "HEIC"),
    (_ftyp(b"heix", b"mif1"), "HEIC"),
    (_ftyp(b"mif1", b"mif1", b"heic"), "HEIC"),
    (_ftyp(b"mif1", b"mif1", b"miaf"), "HEIF"),
    (_ftyp(b"msf1", b"msf1"), "HEIF"),
    (_ftyp(b"isom", b"isom", b"mp41"), None),  # an MP4 video is not an image
    (_ftyp(b"qt  ", b"qt  "), None),
])
def test_heif_family_is_told_apart_by_ftyp_brands(head, fmt):
    assert sniff_image_format(head + b"\x00" * 32) == fmt


def test_an_mp4_video_is_still_a_video_not_an_image():
    assert sniff_image_format(mp4_bytes(1.0, size=(16, 16))[:64]) is None
    assert sniff_media(mp4_bytes(1.0, size=(16, 16))) == ("video", "MP4")


def test_pillows_avif_is_sniffed_as_avif_and_typed_image_avif(avif):
    assert sniff_media(avif) == ("image", "AVIF")
    assert Image(avif).mime_type == "image/avif"


def test_heic_and_heif_images_carry_their_own_mime_types(heic):
    assert Image(heic).mime_type == "image/heic"
    assert Image(_ftyp(b"mif1", b"mif1", b"miaf") + b"\x00" * 64).mime_type == "image/heif"


@pytest.mark.parametrize("uri,mime", [("gs://bkt/p/IMG_1.HEIC", "image/heic"), ("gs://bkt/x.heif", "image/heif"),
                                      ("gs://bkt/x.avif", "image/avif"), ("gs://bkt/x.webp", "image/webp")])
def test_a_gcs_image_is_typed_by_its_name_with_our_table(uri, mime):
    # Not every Python's mimetypes knows these (3.11 has no .webp): the table decides.
    assert Image(gcs_uri=uri).mime_type == mime
    assert content(Image(gcs_uri=uri)).content[0].mime == mime


def test_a_gcs_video_is_typed_by_its_name_and_bytes_still_win():
    assert Video(gcs_uri="gs://bkt/clip.MOV").mime_type == "video/quicktime"
    assert content(Video(gcs_uri="gs://bkt/clip.mov")).content[0].mime == "video/quicktime"
    assert Video(gcs_uri="gs://bkt/clip.jpg").mime_type is None  # an image name is no video type
    assert Image(image_bytes("PNG"), name="looks.heic").mime_type == "image/png"


# -- D2: what each model accepts ------------------------------------------------------------------


@pytest.mark.parametrize("fmt,mime", [("WEBP", "image/webp"), ("BMP", "image/bmp"), ("JPEG", "image/jpeg"),
                                      ("PNG", "image/png")])
def test_gemini_takes_webp_and_bmp_decoded_like_jpeg_and_png(fmt, mime):
    data = image_bytes(fmt)
    assert check_image_bytes(data, GEMINI_EMBEDDING_2) == mime
    assert content(Image(data)).content[0].mime == mime
    with pytest.raises(InvalidImageError, match="cannot be decoded"):  # still decoded, not waved through
        check_image_bytes(data[: len(data) * 2 // 3], GEMINI_EMBEDDING_2, name="cut")


@needs_avif
def test_gemini_takes_avif_and_decodes_it_when_pillow_can(avif):
    assert check_image_bytes(avif, GEMINI_EMBEDDING_2) == "image/avif"
    with pytest.raises(InvalidImageError, match="cannot be decoded"):
        check_image_bytes(avif[:200], GEMINI_EMBEDDING_2, name="cut.avif")


def test_gemini_takes_heic_and_heif_that_pillow_cannot_decode(heic, monkeypatch):
    # As without pillow-heif (whatever this environment has): no HEIC/HEIF decoder.
    monkeypatch.setattr(checks, "pillow_decodes", lambda fmt: fmt not in {"HEIC", "HEIF"})
    heif = _rebrand(heic, b"mif1", b"mif1", b"miaf")
    assert check_image_bytes(heic, GEMINI_EMBEDDING_2, name="IMG_0001.HEIC") == "image/heic"
    assert check_image_bytes(heif, GEMINI_EMBEDDING_2) == "image/heif"
    assert [p.mime for p in content("a photo", Image(heic), Image(heif)).content[1:]] == ["image/heic", "image/heif"]


def test_an_avif_is_taken_undecoded_where_pillow_has_no_avif_codec(avif, monkeypatch):
    # Without a decoder the pixel checks are skipped, not the image: damaged bytes then pass.
    monkeypatch.setattr(checks, "pillow_decodes", lambda fmt: fmt not in formats.OPTIONAL_DECODER_FORMATS)
    assert check_image_bytes(avif[:200], GEMINI_EMBEDDING_2) == "image/avif"


@pytest.mark.parametrize("fmt", ["HEIC", "AVIF"])
def test_multimodalembedding_001_keeps_its_formats(fmt, heic, avif):
    data = {"HEIC": heic, "AVIF": avif}[fmt]
    with pytest.raises(InvalidImageError, match=f"{fmt} images are not supported by multimodalembedding@001; "
                                                "it accepts BMP, GIF, JPEG, PNG, WEBP; convert it to JPEG or PNG, "
                                                f"or embed it with gemini-embedding-2, which takes {fmt}"):
        check_image_bytes(data, MULTIMODAL_EMBEDDING_001)
    assert check_image_bytes(image_bytes("WEBP"), MULTIMODAL_EMBEDDING_001) == "image/webp"


def test_pillow_decodes_reports_this_install():
    from PIL import Image as PILImage
    from PIL import features

    PILImage.init()
    assert pillow_decodes("AVIF") == ("avif" in features.get_supported_modules())
    assert pillow_decodes("HEIC") == pillow_decodes("HEIF") == ("HEIF" in PILImage.OPEN)
    assert pillow_decodes("JPEG") and pillow_decodes("WEBP")


def test_page_images_stay_formats_every_pillow_decodes():
    assert not {".heic", ".heif", ".avif"} & formats.PAGE_IMAGE_SUFFIXES
    assert {".tif", ".webp", ".png"} <= formats.PAGE_IMAGE_SUFFIXES


def test_folder_walkers_take_heic_for_gemini_only_so_iphone_folders_are_no_errors_elsewhere(emulator, tmp_path, capsys):
    from vertex_mm import get_embedder
    from vertex_mm.cli import main
    from vertex_mm.index.build import find_images
    from vertex_mm.jobs import image_extensions_for
    from vertex_mm.testing import HashedEmbedder

    (tmp_path / "a.jpg").write_bytes(image_bytes("JPEG"))
    (tmp_path / "b.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    gemini = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    assert {".heic", ".heif", ".avif"} <= image_extensions_for(gemini)
    assert not {".heic", ".heif", ".avif"} & (image_extensions_for(HashedEmbedder()) | formats.IMAGE_SUFFIXES)
    assert [p.name for p in find_images(tmp_path)] == ["a.jpg"]  # the model unknown: what every model reads
    out = tmp_path / "out.jsonl"
    assert main(["embed", str(tmp_path), "--out", str(out), "--backend", "hashed", "--no-progress"]) == 0
    assert "1 inputs: 1 embedded" in capsys.readouterr().err  # the HEIC file is not a failure of a model that cannot read it
    assert main(["index", str(tmp_path), "--out", str(tmp_path / "g.idx"), "--backend", "gemini",
                 "--api-endpoint", emulator.url, "--dimension", "128"]) == 0
    assert " 2 photos in " in capsys.readouterr().err  # gemini reads it
    gemini.close()


# -- D3: the side limit ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(16385, 1), (1, 16385), (20000, 1000)])
def test_gemini_refuses_a_side_over_16384_pixels(size):
    data = image_bytes("PNG", size=size)
    w, h = size
    with pytest.raises(ImageTooLargeError, match=rf"scan\.png: image is {w}x{h} pixels; gemini-embedding-2 takes at "
                                                 r"most 16384x16384 pixels per image") as caught:
        check_image_bytes(data, GEMINI_EMBEDDING_2, name="scan.png")
    assert caught.value.input_name == "scan.png"
    with pytest.raises(ImageTooLargeError, match="16384x16384"):
        content(Image(data, name="scan.png"))


def test_16384_pixels_a_side_is_taken_and_001_has_no_side_limit():
    assert check_image_bytes(image_bytes("PNG", size=(16384, 2)), GEMINI_EMBEDDING_2) == "image/png"
    assert check_image_bytes(image_bytes("PNG", size=(16385, 2)), MULTIMODAL_EMBEDDING_001) == "image/png"
    assert GEMINI_EMBEDDING_2.max_image_side == 16384 and MULTIMODAL_EMBEDDING_001.max_image_side is None


def test_an_undecodable_heic_is_measured_from_its_container(heic):
    assert checks.heif_image_size(heic) == (40, 30)
    with pytest.raises(ImageTooLargeError, match=r"IMG\.HEIC: image is 20000x100 pixels; .* at most 16384x16384"):
        check_image_bytes(_claiming(heic, 20000, 100), GEMINI_EMBEDDING_2, name="IMG.HEIC")
    assert check_image_bytes(_claiming(heic, 16384, 100), GEMINI_EMBEDDING_2) == "image/heic"


def test_ispe_letters_in_the_coded_data_are_not_read_as_a_size(heic):
    # A HEIC whose mdat (the coded picture) happens to hold "ispe" and then huge numbers.
    fake = b"ispe" + b"\x00" * 4 + (0xFFFFFFFF).to_bytes(4, "big") + (16).to_bytes(4, "big")
    mdat = (8 + len(fake)).to_bytes(4, "big") + b"mdat" + fake
    assert checks.heif_image_size(heic + mdat) == (40, 30)
    assert checks.heif_image_size(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + mdat) is None
    assert checks.heif_image_size(heic[:40]) is None  # cut inside its boxes: no size, no error


# -- D11: MOV videos -----------------------------------------------------------------------------


def test_gemini_takes_mov_videos_as_video_quicktime():
    mov = _mov_bytes(1.0)
    part = content(Video(mov, name="clip.mov")).content[0]
    assert part.mime == "video/quicktime" and part.seconds == pytest.approx(1.0, abs=0.3)
    assert check_video_bytes(mov, GEMINI_EMBEDDING_2) == "video/quicktime"


def test_gemini_still_refuses_mpeg_videos():
    mpeg = b"\x00\x00\x01\xba" + b"\x00" * 600
    with pytest.raises(InvalidVideoError, match="MPEG video is not accepted; gemini-embedding-2 takes MOV, MP4"):
        content(Video(mpeg, name="old.mpg"))


# -- D1: the superseded preview id ---------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(limit_models, "_warned", set())


def test_the_preview_id_resolves_to_the_ga_model_with_one_warning(fresh_warnings):
    with pytest.warns(FutureWarning) as caught:
        assert resolve_model("gemini-embedding-2-preview") == "gemini-embedding-2"
    message = str(caught[0].message)
    assert "gemini-embedding-2-preview is a preview model superseded by gemini-embedding-2" in message
    assert "vertex-mm migrate INDEX --to gemini-embedding-2" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_model("publishers/google/models/gemini-embedding-2-preview") == \
            "publishers/google/models/gemini-embedding-2"


@pytest.mark.parametrize("model", ["gemini-embedding-2", "multimodalembedding@001", "multimodalembedding",
                                   "publishers/google/models/gemini-embedding-2", "my-local-model"])
def test_current_ids_are_sent_as_given_without_a_warning(model, fresh_warnings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_model(model) == model


def test_the_preview_id_gets_the_ga_limits_and_is_still_a_name_of_it():
    assert limits_for("gemini-embedding-2-preview") is GEMINI_EMBEDDING_2
    assert model_names(GEMINI_EMBEDDING_2) == ("gemini-embedding-2", "gemini-embedding-2-preview")
    assert model_names(MULTIMODAL_EMBEDDING_001) == ("multimodalembedding@001", "multimodalembedding")


# -- the emulator answers from the same table -----------------------------------------------------


def _embed(client, data: bytes, mime: str):
    from google.genai import types

    part = types.Part.from_bytes(data=data, mime_type=mime)
    return client.models.embed_content(model="gemini-embedding-2", contents=types.Content(role="user", parts=[part]),
                                       config=types.EmbedContentConfig(output_dimensionality=128))


def test_the_emulator_takes_the_new_formats(genai_client, heic):
    for data, mime in [(image_bytes("WEBP"), "image/webp"), (image_bytes("BMP"), "image/bmp"),
                       (heic, "image/heic"), (_mov_bytes(1.0), "video/quicktime")]:
        assert len(_embed(genai_client, data, mime).embeddings[0].values) == 128, mime


def test_the_emulator_refuses_a_side_over_16384_with_a_400(genai_client):
    from google.genai import errors as genai_errors

    with pytest.raises(genai_errors.ClientError) as caught:
        _embed(genai_client, image_bytes("PNG", size=(16385, 1)), "image/png")
    assert caught.value.code == 400 and "16384x16384" in caught.value.message
