"""Builders of real small media files for tests (import as ``factories``; tests/support is on the path).

Everything here is a real file in a real format: codecs encode it and decoders read it back.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image as PILImage
from PIL import ImageDraw


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A real encoded image with a little structure so codecs have something to encode."""
    img = PILImage.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.line([(0, 0), (size[0] - 1, size[1] - 1)], fill=(0, 0, 255), width=3)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def decompression_bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A few hundred bytes of valid PNG header that claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    raw = zlib.compress(row * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def mp4_bytes(seconds: float = 2.0, fps: int = 4, size: tuple[int, int] = (64, 64),
              colors: list[tuple[int, int, int]] | None = None, change_every_sec: float = 1.0,
              fragmented: bool = False) -> bytes:
    """A real H.264 MP4 (made with PyAV) whose solid colour changes every ``change_every_sec``
    (``fragmented``: moof/mdat fragments after an empty moov, as browsers and OBS write)."""
    import av
    import numpy as np

    colors = colors or [(220, 20, 20), (20, 220, 20), (20, 20, 220)]
    buf = io.BytesIO()
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fragmented else {}
    with av.open(buf, mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            c = colors[int(i / fps / change_every_sec) % len(colors)]
            frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            frame[:] = c
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def pdf_bytes(pages: int = 1, size: tuple[float, float] = (612, 792)) -> bytes:
    """A real PDF of ``pages`` blank pages (made with pypdfium2)."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument.new()
    try:
        for _ in range(pages):
            pdf.new_page(*size).close()
        buf = io.BytesIO()
        pdf.save(buf)
        return buf.getvalue()
    finally:
        pdf.close()


def wav_bytes(seconds: float = 1.0, rate: int = 8000, freq: float = 440.0) -> bytes:
    """A real mono 16-bit PCM WAV file: a sine tone (stdlib ``wave``)."""
    import math
    import wave

    n = int(seconds * rate)
    samples = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(n))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return buf.getvalue()


def mp3_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A real MP3 file (LAME through PyAV): a sine tone."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        t = np.arange(int(seconds * rate)) / rate
        pcm = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
