"""Media formats, decided from the bytes (magic numbers), never from a file name; their MIME
types; and the file-name suffixes folder walkers pick up (a suffix only says which files to
try; the bytes decide what a file is)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

__all__ = [
    "AUDIO_MIME_TYPES",
    "DOCUMENT_MIME_TYPES",
    "IMAGE_MIME_TYPES",
    "IMAGE_SNIFF_BYTES",
    "IMAGE_SUFFIXES",
    "OPTIONAL_DECODER_FORMATS",
    "MEDIA_SUFFIXES",
    "PAGE_IMAGE_SUFFIXES",
    "PDF_SUFFIXES",
    "VIDEO_MIME_TYPES",
    "VIDEO_SUFFIXES",
    "AUDIO_SUFFIXES",
    "format_for_suffix",
    "image_suffixes",
    "is_audio_only_mp4",
    "iso_boxes",
    "mp4_track_kinds",
    "sniff_audio_format",
    "sniff_document_format",
    "sniff_image_format",
    "sniff_media",
    "sniff_video_format",
    "pillow_decodes",
]

# Keyed by Pillow's format name for images, by a short container name otherwise.
IMAGE_MIME_TYPES: dict[str, str] = {
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    # HEIF containers (ISO BMFF, told apart by their ftyp brands): HEVC-coded HEIC, other
    # HEIF, and AV1-coded AVIF. gemini-embedding-2 takes all three; Pillow decodes AVIF when
    # built with libavif, HEIC/HEIF only with a plugin (pillow-heif).
    "HEIC": "image/heic",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
}

#: Formats that Pillow may be unable to decode on a given install (see :func:`pillow_decodes`).
OPTIONAL_DECODER_FORMATS: frozenset[str] = frozenset({"HEIC", "HEIF", "AVIF"})

VIDEO_MIME_TYPES: dict[str, str] = {
    "AVI": "video/avi",
    "FLV": "video/x-flv",
    "MKV": "video/x-matroska",
    "MOV": "video/quicktime",
    "MP4": "video/mp4",
    "MPEG": "video/mpeg",
    "WEBM": "video/webm",
    "WMV": "video/x-ms-wmv",
}

DOCUMENT_MIME_TYPES: dict[str, str] = {"PDF": "application/pdf"}

# The Vertex docs' samples send MP3 as audio/mpeg (the registered type); the model card
# lists "audio/mp3". google-genai passes the string through, the service accepts both.
AUDIO_MIME_TYPES: dict[str, str] = {"MP3": "audio/mpeg", "WAV": "audio/wav"}

_SUFFIXES_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "BMP": (".bmp",), "GIF": (".gif",), "JPEG": (".jpg", ".jpeg"), "PNG": (".png",), "WEBP": (".webp",),
    "HEIC": (".heic",), "HEIF": (".heif",), "AVIF": (".avif",),
    "TIFF": (".tif", ".tiff"),
    "AVI": (".avi",), "FLV": (".flv",), "MKV": (".mkv",), "MOV": (".mov",), "MP4": (".mp4", ".m4v"),
    "MPEG": (".mpeg", ".mpg", ".ts"), "WEBM": (".webm",), "WMV": (".wmv",),
    "PDF": (".pdf",), "MP3": (".mp3",), "WAV": (".wav",),
}


def format_for_suffix(name: str, table: Mapping[str, str]) -> str | None:
    """The format of ``table`` (a MIME table of this module) whose file suffix ``name`` ends
    with, case ignored (``"gs://b/IMG_1.HEIC"`` -> ``"HEIC"``); None when none does. Only for
    objects not read here (``gs://``): bytes are sniffed instead."""
    lower = name.lower()
    return next((fmt for fmt in table if lower.endswith(_SUFFIXES_BY_FORMAT[fmt])), None)


def _suffixes(table: dict[str, str]) -> frozenset[str]:
    return frozenset(s for fmt in table for s in _SUFFIXES_BY_FORMAT[fmt])


def image_suffixes(formats: Iterable[str]) -> frozenset[str]:
    """File name endings of the image ``formats`` (a model's ``image_formats``): what a folder
    walker takes for that model."""
    return frozenset(s for fmt in formats if fmt in IMAGE_MIME_TYPES for s in _SUFFIXES_BY_FORMAT[fmt])


#: Suffixes a folder walker takes when it does not know the model: the formats every Pillow
#: decodes (@001's and the local backend's), not HEIC/HEIF/AVIF, which only gemini-embedding-2
#: takes (:func:`image_suffixes` of its formats): a folder of iPhone photos is then no run of
#: per-item errors for a model that cannot read them.
IMAGE_SUFFIXES: frozenset[str] = image_suffixes(set(IMAGE_MIME_TYPES) - OPTIONAL_DECODER_FORMATS)
#: Suffixes of scanned page images, which are decoded here (rendered, OCR'd): the formats
#: every Pillow install decodes, plus TIFF, the scanners' format. No HEIC/HEIF/AVIF.
PAGE_IMAGE_SUFFIXES: frozenset[str] = frozenset(
    s for fmt in ("BMP", "GIF", "JPEG", "PNG", "WEBP", "TIFF") for s in _SUFFIXES_BY_FORMAT[fmt])
#: Suffixes of the video containers the API accepts.
VIDEO_SUFFIXES: frozenset[str] = _suffixes(VIDEO_MIME_TYPES)
PDF_SUFFIXES: frozenset[str] = _suffixes(DOCUMENT_MIME_TYPES)
AUDIO_SUFFIXES: frozenset[str] = _suffixes(AUDIO_MIME_TYPES)
#: Every suffix a content may come from (gemini-embedding-2 takes all four kinds, and every image format).
MEDIA_SUFFIXES: frozenset[str] = _suffixes(IMAGE_MIME_TYPES) | VIDEO_SUFFIXES | PDF_SUFFIXES | AUDIO_SUFFIXES


# ISO BMFF ftyp brands of HEIF images (ISO/IEC 23008-12 and the AVIF specification).
_AVIF_BRANDS = (b"avif", b"avis", b"avio")  # avio: an intra-only AVIF sequence
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")
_HEIF_BRANDS = (b"mif1", b"msf1", b"mif2")

#: Leading bytes the image sniffer needs: the ftyp box of a HEIF file lists its compatible
#: brands after byte 16 (an AVIF whose major brand is mif1 says "avif" only there).
IMAGE_SNIFF_BYTES = 64


def _heif_format(data: bytes) -> str | None:
    """HEIC, HEIF or AVIF from a HEIF file's ftyp box; None for anything else (an MP4 video
    has an ftyp box too, with other brands)."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    major = data[8:12]
    size = int.from_bytes(data[:4], "big")
    if size == 0:  # the box runs to the end of the file
        size = len(data)
    compatible = [data[i:i + 4] for i in range(16, min(len(data), size) - 3, 4)]
    if major in _AVIF_BRANDS:
        return "AVIF"
    if major in _HEIC_BRANDS:
        return "HEIC"
    if major not in _HEIF_BRANDS:
        return None
    if any(b in _AVIF_BRANDS for b in compatible):
        return "AVIF"
    if any(b in _HEIC_BRANDS for b in compatible):
        return "HEIC"
    return "HEIF"


def sniff_image_format(data: bytes) -> str | None:
    """The image format from magic bytes (Pillow names, plus HEIC and HEIF), or None. Give it
    :data:`IMAGE_SNIFF_BYTES` leading bytes: fewer can tell a HEIF-branded AVIF only as HEIF."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if (heif := _heif_format(data)) is not None:
        return heif
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def sniff_video_format(data: bytes) -> str | None:
    """The container format from magic bytes, or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "MOV" if data[8:10] == b"qt" else "MP4"
    if len(data) >= 8 and data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "MOV"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "WEBM" if b"webm" in data[:64] else "MKV"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "AVI"
    if data.startswith(b"FLV"):
        return "FLV"
    if data[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "MPEG"
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:  # MPEG transport stream
        return "MPEG"
    if data.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "WMV"
    return None


def iso_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO BMFF boxes in ``data[start:end]``: ``(type, body start, box end)``; stops at a box
    whose size does not fit (a truncated or damaged file)."""
    at = start
    while at + 8 <= end:
        size, kind, body = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8], at + 8
        if size == 1 and at + 16 <= end:  # a 64-bit size follows the type
            size, body = int.from_bytes(data[at + 8:at + 16], "big"), at + 16
        elif size == 0:  # the box runs to the end
            size = end - at
        if size < body - at or at + size > end:
            return
        yield kind, body, at + size
        at += size


def mp4_track_kinds(data: bytes) -> frozenset[str] | None:
    """The handler types of the tracks of an MP4 / QuickTime file (``"vide"``, ``"soun"``,
    ``"text"``...) from ``moov > trak > mdia > hdlr``; None when no ``moov`` with a track can be
    read (a truncated file, or only its first bytes). Only the boxes on that path are read,
    never the media data (``mdat``, skipped by its size). At most :data:`MAX_MP4_BOXES` boxes
    are visited (None beyond): real files have tens, a crafted one millions of tiny boxes."""
    kinds: set[str] = set()
    budget = _BoxBudget(MAX_MP4_BOXES)
    try:
        for moov, moov_body, moov_end in budget.boxes(data, 0, len(data)):
            if moov != b"moov":
                continue
            for trak, trak_body, trak_end in budget.boxes(data, moov_body, moov_end):
                for mdia, mdia_body, mdia_end in (budget.boxes(data, trak_body, trak_end) if trak == b"trak" else ()):
                    for hdlr, h_body, h_end in (budget.boxes(data, mdia_body, mdia_end) if mdia == b"mdia" else ()):
                        if hdlr == b"hdlr" and h_end - h_body >= 12:  # version+flags, pre_defined, handler_type
                            kinds.add(bytes(data[h_body + 8:h_body + 12]).decode("latin-1"))
            break  # one moov box
    except _TooManyBoxes:
        return None
    return frozenset(kinds) if kinds else None


def mp4_index_boxes(f: BinaryIO, *, max_bytes: int) -> bytes:
    """The top-level ``ftyp`` and ``moov`` boxes of the MP4 / QuickTime file ``f`` (open for
    reading, binary, at its start), read by seeking past every other box (``mdat``: the media),
    so that :func:`is_audio_only_mp4` can tell audio from video without reading the file. At most
    :data:`MAX_MP4_BOXES` boxes are stepped over, and a ``moov`` over ``max_bytes`` is not read
    (what was read comes back: too little to call the file audio)."""
    kept: list[bytes] = []
    for _ in range(MAX_MP4_BOXES):
        header = f.read(8)
        if len(header) < 8:
            break
        size, kind = int.from_bytes(header[:4], "big"), header[4:]
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                break
            header, size = header + large, int.from_bytes(large, "big")
        if size == 0 or size < len(header):  # to the end of the file, or damaged: no moov after it
            if kind == b"moov" and size == 0:
                kept.append(header + f.read(max_bytes))
            break
        if kind in (b"ftyp", b"moov"):
            if size > max_bytes:
                break
            kept.append(header + f.read(size - len(header)))
            if kind == b"moov":
                break
        else:
            f.seek(size - len(header), 1)
    return b"".join(kept)


#: The most ISO BMFF boxes :func:`mp4_track_kinds` visits. A real file has a few top-level
#: boxes (or a moof/mdat pair per fragment, after the moov) and a few per track; a file made
#: of 8-byte boxes would otherwise cost a Python step per 8 bytes (seconds for 20 MB).
MAX_MP4_BOXES = 4096


class _TooManyBoxes(Exception):
    pass


class _BoxBudget:
    """One count of boxes visited, shared by every level of a walk."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def boxes(self, data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        for box in iso_boxes(data, start, end):
            self.left -= 1
            if self.left < 0:
                raise _TooManyBoxes
            yield box


def is_audio_only_mp4(data: bytes) -> bool:
    """Whether ``data`` is an MP4 / QuickTime file holding sound and no picture: audio in an MP4
    container (M4A) whatever its brand (ffmpeg and yt-dlp write ``isom`` / ``mp42`` / ``dash``,
    not ``M4A ``). False when its tracks cannot be read."""
    if sniff_video_format(bytes(data[:512])) not in ("MP4", "MOV"):
        return False
    kinds = mp4_track_kinds(data)
    return kinds is not None and "soun" in kinds and "vide" not in kinds


def sniff_document_format(data: bytes) -> str | None:
    """``"PDF"`` for PDF bytes (the header may follow up to 1 KiB of junk, as readers allow)."""
    return "PDF" if b"%PDF-" in data[:1024] else None


def sniff_audio_format(data: bytes) -> str | None:
    """The audio format from magic bytes: MP3, WAV, or (named so that errors can say what it
    is) FLAC, OGG, M4A, AAC; None when unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "WAV"
    if data.startswith(b"ID3"):
        return "MP3"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        # An MPEG audio frame sync; layer bits 01 are layer III (MP3), 00 would be AAC (ADTS).
        return "MP3" if data[1] & 0x06 != 0 else "AAC"
    if data.startswith(b"fLaC"):
        return "FLAC"
    if data.startswith(b"OggS"):
        return "OGG"
    if data[4:8] == b"ftyp" and data[8:11] == b"M4A":
        return "M4A"
    return None


def sniff_media(data: bytes) -> tuple[str, str] | None:
    """``(kind, format)`` of media bytes: kind is image, video, document or audio; None when
    the bytes are none of them. Audio in an MP4 container (M4A) counts as audio: by its
    ``M4A`` brand, or, given the whole file, by having a sound track and no video track."""
    head = bytes(data[:1024])
    if (fmt := sniff_image_format(head[:IMAGE_SNIFF_BYTES])) is not None:
        return "image", fmt
    if (fmt := sniff_document_format(head)) is not None:
        return "document", fmt
    if (fmt := sniff_audio_format(head[:16])) in ("WAV", "MP3", "FLAC", "OGG", "M4A"):
        return "audio", fmt
    if (fmt := sniff_video_format(head[:512])) is not None:
        return ("audio", "M4A") if is_audio_only_mp4(data) else ("video", fmt)
    if fmt := sniff_audio_format(head[:16]):
        return "audio", fmt
    return None


def pillow_decodes(fmt: str) -> bool:
    """Whether the installed Pillow can decode ``fmt`` (a format of :data:`IMAGE_MIME_TYPES`).
    AVIF needs Pillow built with libavif; HEIC/HEIF a registered plugin (pillow-heif's
    ``register_heif_opener()``); every other format is always there."""
    if fmt not in OPTIONAL_DECODER_FORMATS:
        return True
    from PIL import Image, features

    if fmt == "AVIF":
        return "avif" in features.get_supported_modules()  # no warning on a Pillow older than AVIF
    Image.init()
    return "HEIF" in Image.OPEN  # the format name pillow-heif registers (HEIC files included)
