"""``migrate`` sends each source as the kind it is: `vertex-mm embed --backend gemini` embeds
PDFs, audio and video too, and their JSONL migrates like a folder of photos. A target that
embeds images and text only refuses the others, each alone, naming the kind; text items of an
@001 index migrate to @001 as well. The emulator is the service."""

from __future__ import annotations

import json

import numpy as np
import pytest
from factories import image_bytes, mp3_bytes, mp4_bytes, pdf_bytes

from vertex_mm import Audio, Document, Image, Video, get_embedder
from vertex_mm.cli import main
from vertex_mm.index import create_index, load_index
from vertex_mm.migrate import build_request, migrate_index, plan_migration, source_items


@pytest.fixture
def media(tmp_path):
    """A folder of an image, a 2-page PDF, a 3 s video and a 1 s MP3, and `vertex-mm embed`'s JSONL of it."""
    folder = tmp_path / "media"
    folder.mkdir()
    files = {"a.jpg": image_bytes("JPEG"), "doc.pdf": pdf_bytes(2), "clip.mp4": mp4_bytes(seconds=3.0, fps=2, size=(32, 32)),
             "talk.mp3": mp3_bytes(1.0)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": name, "embedding": [0.0] * 8}) + "\n" for name in files))
    return source, folder


def _gemini(emulator):
    return get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)


def test_local_pdfs_videos_and_audio_are_embedded_as_themselves(emulator, hashed, media, tmp_path):
    source, folder = media
    gemini = _gemini(emulator)
    try:
        plan = plan_migration(source, tmp_path / "new.idx", gemini, dimension=128, task="retrieval_document",
                              root=folder)
        report = migrate_index(source, tmp_path / "new.idx", gemini, dimension=128, task="retrieval_document",
                               root=folder)
    finally:
        gemini.close()
    assert plan.failures == {} and plan.to_send == 4
    # Priced as what they are: 2 pages, 3 s of video, 1 s of audio; not four images.
    usage = plan.estimate.usage
    assert (usage["image"].units, usage["document"].units, usage["video"].units) == (1, 2, 3.0)
    assert usage["audio"].parts == 1 and not any(u.upper_bound for u in usage.values())
    assert report.complete and report.embedded == 4, report.summary()
    new = load_index(tmp_path / "new.idx")
    for name, kind in [("doc.pdf", Document), ("clip.mp4", Video), ("talk.mp3", Audio), ("a.jpg", Image)]:
        expected = hashed.embed_content(kind.load_from_file(str(folder / name)), dimension=128)
        np.testing.assert_allclose(np.asarray(new.vector(name))[0], expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_gs_objects_are_sent_as_the_kind_their_name_says_and_priced_at_their_limits(emulator, tmp_path):
    source = tmp_path / "old.jsonl"
    ids = ["gs://bkt/photo.jpg", "gs://bkt/clip.mp4", "gs://bkt/doc.pdf", "gs://bkt/talk.mp3", "gs://bkt/noext"]
    source.write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))
    gemini = _gemini(emulator)
    try:
        space = gemini.content_space(256, task="retrieval_document")
        sent = {}
        for item in source_items(source):
            request, _, _ = build_request(gemini, item, space, "retrieval_document")
            sent[item.id] = [(p.kind, p.mime) for p in request.content]
        plan = plan_migration(source, tmp_path / "new.idx", gemini, dimension=256, task="retrieval_document")
    finally:
        gemini.close()
    assert sent == {"gs://bkt/photo.jpg": [("image", "image/jpeg")], "gs://bkt/clip.mp4": [("video", "video/mp4")],
                    "gs://bkt/doc.pdf": [("document", "application/pdf")],
                    "gs://bkt/talk.mp3": [("audio", "audio/mpeg")],
                    "gs://bkt/noext": [("image", "image/jpeg")]}  # an @001 index's objects are images
    usage = plan.estimate.usage
    assert usage["video"].tokens == 120 * 66 and usage["document"].units == 6 and usage["audio"].units == 180
    assert usage["image"].parts == 2 and all(u.upper_bound for k, u in usage.items() if k != "image")


def test_an_images_only_target_refuses_other_kinds_each_alone_naming_the_kind(emulator, media, tmp_path, capsys):
    source, folder = media
    emulator.reset_stats()
    code = main(["migrate", str(source), "--root", str(folder), "--backend", "vertex", "--out", str(tmp_path / "new.idx"),
                 "--api-endpoint", emulator.url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "1 embedded now" in err and "3 failed" in err and emulator.stats()["2xx"] == 1  # nothing else sent
    assert "clip.mp4 is a video; multimodalembedding@001 embeds images and text only" in err
    assert "doc.pdf is a PDF" in err and "talk.mp3 is an audio clip" in err
    assert "3 are of a kind the target model does not embed" in err and "fix or remove" not in err
    assert list(load_index(tmp_path / "new.idx").ids) == ["a.jpg"]


def test_text_items_migrate_to_001_from_its_text_answer(emulator, hashed, tmp_path):
    # multimodalembedding@001 answers a text in text_embedding, an image in image_embedding.
    photo = tmp_path / "a.jpg"
    photo.write_bytes(image_bytes("JPEG"))
    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none", requests_per_minute=None)
    try:
        old = create_index(vertex.space(512), "flat")
        old.add(["a.jpg"], vertex.embed_images([str(photo)], dimension=512), [{"path": str(photo)}])
        old.add(["t1"], vertex.embed_texts(["a red square"], dimension=512), [{"text": "a red square"}])
        old.save(tmp_path / "old.idx")
        report = migrate_index(tmp_path / "old.idx", tmp_path / "new.idx", vertex, dimension=1408)
        expected = vertex.embed_texts(["a red square"], dimension=1408)
    finally:
        vertex.close()
    assert report.complete and report.embedded == 2, report.summary()
    new = load_index(tmp_path / "new.idx")
    np.testing.assert_allclose(np.asarray(new.vector("t1"))[0], np.asarray(expected)[0], rtol=1e-5)


def test_source_kind_calls_an_mp4_of_sound_only_audio_as_it_is_sent(tmp_path):
    # ffmpeg's isom brand, moov after the media: the first bytes say "MP4", only the tracks tell.
    import io

    import av

    from vertex_mm._migrate_io import source_kind
    from vertex_mm.content import as_part

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        noise = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 64 * 1024)).astype(np.float32)
        for i in range(64):  # noise: an mdat far past the first KiB
            frame = av.AudioFrame.from_ndarray(noise[:, i * 1024:(i + 1) * 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    sound, picture = tmp_path / "voice.mp4", tmp_path / "clip.mp4"
    sound.write_bytes(buf.getvalue())
    picture.write_bytes(mp4_bytes())
    assert sound.read_bytes()[4:12] == b"ftypisom" and sound.read_bytes().find(b"moov") > 4096
    assert isinstance(as_part(sound), Audio)
    assert source_kind(str(sound)) == "audio" and source_kind(str(picture)) == "video"
