"""What embedding with gemini-embedding-2 costs: ONE price table, and estimates per modality.

The table (:data:`GEMINI_EMBEDDING_2_PRICES`), USD per million input tokens, online / batch:

    text      0.20 / 0.10
    image     0.45 / 0.225
    document  0.45 / 0.225   (a PDF page is billed as an image: an inference, see below)
    audio     6.50 / 3.25
    video    12.00 / 6.00

Source, and how far to trust it: these are **third-party transcriptions** of Google's Gemini
API pricing page, not a copy of it. We could not read Google's Vertex AI or Gemini API pricing
pages themselves. The figures agree across tokencost.app ("Gemini Embedding 2 pricing",
written for the March 2026 preview, quoting Google's page), yet-another-changelog.ai (GA on
2026-04-22: "$0.20 per million text input tokens, with the Batch API available at 50% off")
and zilliz.com ("$0.45 per 1 million tokens (or $0.00012 per image)"). Recorded here on
2026-12-06. Google's own embeddings guide says batch embeddings cost "50% of the default
Embedding price" (Gemini API). Not confirmed: that Vertex AI bills this model at the Gemini API
prices, that the batch discount applies on Vertex AI (the model card even lists batch
prediction as not supported), and the PDF rate (no source lists it; a page counts as 258 image
tokens, so the image rate is assumed). Check Google's pricing page before you budget.

Tokens per input, from "Get multimodal embeddings" (API limits; :mod:`vertex_mm.limits.content`):
258 per image, 258 per PDF page, 66 per second of video (one frame per second), 25 per second of
audio; text is estimated as characters / 4. Media given as ``gs://`` URIs are not downloaded
to be measured: a PDF then counts as its 6-page limit, a video as 120 s and an audio clip as
180 s, so the estimate is an upper bound (the lines say so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .limits import GEMINI_EMBEDDING_2
from .limits.content import (
    TOKENS_PER_AUDIO_SECOND,
    TOKENS_PER_IMAGE,
    TOKENS_PER_TIMESTAMP_SECOND,
    TOKENS_PER_VIDEO_FRAME,
    max_video_seconds,
)
from .wire import ContentPart, EmbedRequest

__all__ = [
    "GEMINI_EMBEDDING_2_PRICES",
    "MODALITIES",
    "CostEstimate",
    "PriceTable",
    "Usage",
    "content_tokens",
    "content_usage",
]

MODALITIES = ("text", "image", "document", "audio", "video")
#: Characters per text token, for the estimate (the service counts subword tokens).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class PriceTable:
    """USD per million input tokens by modality, the batch discount, and where it came from."""

    model: str
    usd_per_million_tokens: Mapping[str, float]
    batch_discount: float
    source: str
    recorded: str

    def usd(self, modality: str, tokens: int, *, batch: bool) -> float:
        rate = self.usd_per_million_tokens[modality] * (1.0 - self.batch_discount if batch else 1.0)
        return tokens * rate / 1_000_000


GEMINI_EMBEDDING_2_PRICES = PriceTable(
    model=GEMINI_EMBEDDING_2.model,
    usd_per_million_tokens=MappingProxyType({"text": 0.20, "image": 0.45, "document": 0.45, "audio": 6.50,
                                             "video": 12.00}),
    batch_discount=0.5,
    source="third-party transcriptions of Google's Gemini API pricing page (tokencost.app, "
           "yet-another-changelog.ai, zilliz.com); PDF pages at the image rate (assumed)",
    recorded="2026-12-06",
)


@dataclass
class Usage:
    """One modality's share of some contents: parts, units (images, pages, seconds, characters)
    and tokens; ``upper_bound`` when some part was a gs:// URI counted at its limit."""

    parts: int = 0
    units: float = 0.0
    tokens: int = 0
    upper_bound: bool = False

    def add(self, other: "Usage") -> None:
        self.parts += other.parts
        self.units += other.units
        self.tokens += other.tokens
        self.upper_bound = self.upper_bound or other.upper_bound


_UNIT = {"text": "chars", "image": "images", "document": "pages", "audio": "s", "video": "s"}


def _part_usage(part: ContentPart, audio_track: bool) -> dict[str, Usage]:
    limits = GEMINI_EMBEDDING_2.content
    assert limits is not None
    if part.kind == "text":
        chars = len(part.text or "")
        return {"text": Usage(1, chars, math.ceil(chars / CHARS_PER_TOKEN))}
    if part.kind == "image":
        return {"image": Usage(1, 1, TOKENS_PER_IMAGE)}
    if part.kind == "document":
        pages = part.pages if part.pages is not None else limits.max_document_pages
        return {"document": Usage(1, pages, pages * TOKENS_PER_IMAGE, part.pages is None)}
    if part.kind == "audio":
        seconds = part.seconds if part.seconds is not None else limits.max_audio_seconds
        return {"audio": Usage(1, seconds, math.ceil(seconds * TOKENS_PER_AUDIO_SECOND), part.seconds is None)}
    measured = part.seconds is not None
    rate = part.span.rate if part.span is not None else 1.0  # videoMetadata.fps: frames per second
    # Unmeasured (gs://): the longest span the request check lets through at this rate.
    seconds = part.seconds if part.seconds is not None else max_video_seconds(limits, rate, audio_track=audio_track)
    frames = math.ceil(seconds * rate - 1e-9)  # one frame per second by default
    stamps = math.ceil(seconds) * TOKENS_PER_TIMESTAMP_SECOND if audio_track else 0
    out = {"video": Usage(1, seconds, frames * TOKENS_PER_VIDEO_FRAME + stamps, not measured)}
    if audio_track:  # the extracted track is billed as audio
        out["audio"] = Usage(0, 0, math.ceil(seconds * TOKENS_PER_AUDIO_SECOND), not measured)
    return out


def content_usage(request: EmbedRequest) -> dict[str, Usage]:
    """Per-modality usage of one content request."""
    out: dict[str, Usage] = {}
    for part in request.content or ():
        for modality, usage in _part_usage(part, request.audio_track_extraction).items():
            out.setdefault(modality, Usage()).add(usage)
    return out


def content_tokens(request: EmbedRequest) -> int:
    """The estimated input tokens of one content (what the service reports as its token count)."""
    return sum(u.tokens for u in content_usage(request).values())


@dataclass
class CostEstimate:
    """Usage of many contents and what it costs online and as a batch job.

    >>> est = CostEstimate.of(requests)                                   # doctest: +SKIP
    >>> print(est.format())
    """

    prices: PriceTable = GEMINI_EMBEDDING_2_PRICES
    contents: int = 0
    usage: dict[str, Usage] = field(default_factory=dict)

    @classmethod
    def of(cls, requests: Iterable[EmbedRequest], prices: PriceTable = GEMINI_EMBEDDING_2_PRICES) -> "CostEstimate":
        est = cls(prices)
        for request in requests:
            est.add(request)
        return est

    def add(self, request: EmbedRequest) -> None:
        self.contents += 1
        for modality, usage in content_usage(request).items():
            self.usage.setdefault(modality, Usage()).add(usage)

    def usd(self, *, batch: bool) -> float:
        return sum(self.prices.usd(m, u.tokens, batch=batch) for m, u in self.usage.items())

    def format(self) -> str:
        """A small table: one line per modality, a total, and the source of the prices."""
        lines = [f"cost estimate for {self.contents:,} contents ({self.prices.model}):",
                 f"  {'modality':<9} {'parts':>7} {'amount':>14} {'tokens':>12} {'online $':>10} {'batch $':>10}"]
        for modality in MODALITIES:
            u = self.usage.get(modality)
            if u is None or not u.tokens:
                continue
            amount = f"{u.units:,.0f} {_UNIT[modality]}" + ("*" if u.upper_bound else "")
            lines.append(f"  {modality:<9} {u.parts:>7,} {amount:>14} {u.tokens:>12,} "
                         f"{self.prices.usd(modality, u.tokens, batch=False):>10.4f} "
                         f"{self.prices.usd(modality, u.tokens, batch=True):>10.4f}")
        tokens = sum(u.tokens for u in self.usage.values())
        lines.append(f"  {'total':<9} {'':>7} {'':>14} {tokens:>12,} {self.usd(batch=False):>10.4f} "
                     f"{self.usd(batch=True):>10.4f}")
        if any(u.upper_bound for u in self.usage.values()):
            lines.append("  * gs:// media are not measured: counted at their limit (a PDF 6 pages, a video 120 s or 80 s "
                         "with its audio track, fewer at more frames a second; audio 180 s)")
        lines.append(f"  prices: USD per 1M tokens {dict(self.prices.usd_per_million_tokens)}, batch "
                     f"{self.prices.batch_discount:.0%} off; {self.prices.source}; recorded {self.prices.recorded}. "
                     "Not Google's published figures: check the pricing page.")
        return "\n".join(lines)
