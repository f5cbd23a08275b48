"""Real files broken the way users' data breaks (import as ``damaged``; tests/support is on the path).

Each builder takes real bytes (from :mod:`factories` or the shipped sample photos) and breaks them
in one known way, deterministically: truncation, flipped or zeroed bytes, garbage after a valid
header, headers that declare huge dimensions, a PDF whose page tree lies, an MP4 whose codec id
or ``moov`` atom is damaged, a WebM written live (no duration). :func:`mutants` gives a fixed
spread of all the generic breaks of one file, for tests that sweep them.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator


def flipped(data: bytes, at: int, mask: int = 0xFF) -> bytes:
    """``data`` with the byte at ``at`` (negative: from the end) XOR-ed with ``mask``."""
    i = at % len(data)
    return data[:i] + bytes([data[i] ^ mask]) + data[i + 1:]


def zeroed(data: bytes, start: int, length: int) -> bytes:
    """``data`` with ``length`` bytes from ``start`` set to zero (a hole a bad disk leaves)."""
    return data[:start] + b"\x00" * min(length, len(data) - start) + data[start + length:]


def header_then_garbage(data: bytes, keep: int, seed: int = 0) -> bytes:
    """The first ``keep`` bytes, then seeded random bytes to the original length."""
    return data[:keep] + random.Random(seed).randbytes(max(0, len(data) - keep))


def mutants(data: bytes, n: int = 24, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``(how, bytes)``: ``n`` seeded generic breaks of ``data``: truncations, flips in the
    header and the middle, zeroed chunks, garbage after the header, inserted and deleted bytes."""
    rng = random.Random(seed)
    for k in range(n):
        kind = k % 6
        if kind == 0:
            cut = rng.randrange(0, len(data))
            yield f"truncated at {cut}", data[:cut]
        elif kind == 1:
            at = rng.randrange(0, min(64, len(data)))
            yield f"header byte {at} flipped", flipped(data, at, 1 << rng.randrange(8))
        elif kind == 2:
            at = rng.randrange(0, len(data))
            yield f"byte {at} flipped", flipped(data, at)
        elif kind == 3:
            at, size = rng.randrange(0, len(data)), rng.choice([16, 512, 4096])
            yield f"{size} bytes zeroed at {at}", zeroed(data, at, size)
        elif kind == 4:
            keep = rng.choice([16, 64, 256])
            yield f"garbage after {keep} bytes", header_then_garbage(data, keep, seed=k)
        else:
            at = rng.randrange(0, len(data))
            yield f"bytes inserted at {at}", data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]


# --- headers that declare huge dimensions (decompression-bomb headers) --------------------------


def png_claiming(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (its CRC fixed, so only the size lies)."""
    assert data[12:16] == b"IHDR"
    ihdr = data[12:16] + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF) + data[33:]


def jpeg_claiming(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF0/SOF2) claims ``width`` x ``height`` (at most 65535)."""
    i = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
    assert i > 0
    return data[:i + 5] + struct.pack(">HH", height, width) + data[i + 9:]


def gif_claiming(data: bytes, width: int, height: int) -> bytes:
    """A GIF whose logical screen claims ``width`` x ``height``."""
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def bmp_claiming(data: bytes, width: int, height: int) -> bytes:
    """A BMP whose info header claims ``width`` x ``height`` (negative height: top-down)."""
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


def webp_claiming(data: bytes, width: int, height: int) -> bytes:
    """An extended (VP8X) WebP whose canvas claims ``width`` x ``height`` (at most 2**24)."""
    i = data.find(b"VP8X")
    assert i > 0, "needs an extended WebP (one with alpha or animation)"
    return data[:i + 12] + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little") + data[i + 18:]


# --- documents and videos ----------------------------------------------------------------------


def pdf_with_lying_page_count(data: bytes) -> bytes:
    """A PDF whose page tree says ``/Count`` one more than the pages it holds: the last page
    is listed but cannot be loaded (same length, so the xref offsets stay right)."""
    import re

    m = re.search(rb"/Count (\d+)", data)
    assert m is not None
    n = int(m.group(1))
    assert len(str(n + 1)) == len(str(n))
    return data[:m.start(1)] + str(n + 1).encode() + data[m.end(1):]


def mp4_with_unknown_codec(data: bytes) -> bytes:
    """An MP4 whose sample description names a codec no decoder knows (``avc1`` -> ``zzz1``)."""
    i = data.rfind(b"avc1")  # the stsd entry, after the brand list of ftyp
    assert i > 0
    return data[:i] + b"zzz1" + data[i + 4:]


def mp4_with_broken_moov(data: bytes) -> bytes:
    """An MP4 whose ``moov`` atom (the index of every frame) has a size past the file's end."""
    i = data.find(b"moov")
    assert i >= 4
    return data[:i - 4] + struct.pack(">I", len(data) * 4) + data[i:]


def live_webm(seconds: float = 2.0, fps: int = 4, size: tuple[int, int] = (32, 32)) -> bytes:
    """A real VP8 WebM as a browser's MediaRecorder writes it: no ``Duration`` element, so
    the header states no length (the element's id is renamed, which readers skip)."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.full((size[1], size[0], 3), (i * 37) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = buf.getvalue()
    assert data.count(b"\x44\x89") == 1, "the Duration element id must occur exactly once"
    return data.replace(b"\x44\x89", b"\x44\x88")


def cut_short_mp4(seconds: float = 10.0, keep: float = 0.6, fps: int = 25) -> bytes:
    """A real "faststart" MP4 (index first) of noise frames, cut after ``keep`` of its bytes, as an
    interrupted copy leaves it: the header still states ``seconds``, the frames stop early."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    folder = tempfile.mkdtemp()  # faststart moves the index to the front: it rewrites a real file
    path = os.path.join(folder, "full.mp4")
    with av.open(path, mode="w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = 96, 64
        stream.pix_fmt = "yuv420p"
        for _ in range(int(seconds * fps)):
            noise = rng.integers(0, 255, (64, 96, 3), np.uint8)  # noise: every frame costs bytes
            for packet in stream.encode(av.VideoFrame.from_ndarray(noise, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with open(path, "rb") as f:
        data = f.read()
    shutil.rmtree(folder)
    return data[:int(len(data) * keep)]


def mkv_with_longer_audio(video_seconds: float, audio_seconds: float, fps: int = 25) -> bytes:
    """A real Matroska file whose audio runs past its picture (phone and screen recordings):
    Matroska states no per-stream duration, and the file's own covers the audio."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = 32, 32
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        for i in range(int(video_seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for k in range(0, int(audio_seconds * 48000) - 1024, 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, k
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return buf.getvalue()


def pdf_with_unknown_password(data: bytes) -> bytes:
    """A PDF with a standard security handler whose password is not the empty one: how an
    encrypted PDF looks to a reader without the password."""
    import re

    trailer = list(re.finditer(rb"trailer\s*<<", data))[-1]
    encrypt = (b"999 0 obj\n<< /Filter /Standard /V 1 /R 2 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32
               + b"> /P -4 >>\nendobj\n")
    return (data[:trailer.start()] + encrypt + data[trailer.start():trailer.end()] + b" /Encrypt 999 0 R "
            + data[trailer.end():])


def pdf_with_broken_xref(data: bytes) -> bytes:
    """A PDF whose ``startxref`` points past the end of the file (readers rebuild the xref)."""
    import re

    return re.sub(rb"startxref\s+\d+", b"startxref\n99999999", data)
