"""The content model of gemini-embedding-2: an ordered list of parts embedded into ONE vector,
and the task instructions that condition it.

A part is text (``str``), an :class:`~vertex_mm.Image`, :class:`~vertex_mm.Video`,
:class:`~vertex_mm.Document` (PDF) or :class:`~vertex_mm.Audio`, or a ``pathlib.Path`` /
``bytes`` whose kind is decided from the bytes. A plain ``str`` is always text: a path must be a
``Path`` (or a media object), so that a caption is never mistaken for a file name.

Tasks: gemini-embedding-2 ignores the old ``task_type`` field and expects the task written
into the text ("Get multimodal embeddings", section "Task types", and the Gemini API
embeddings guide). :data:`TASKS` holds the documented forms word for word::

    retrieval_query     task: search result | query: {content}
    retrieval_document  title: {title} | text: {content}          (title "none" when not given)
    question_answering  task: question answering | query: {content}
    fact_verification   task: fact checking | query: {content}
    code_retrieval      task: code retrieval | query: {content}
    classification      task: classification | query: {content}
    clustering          task: clustering | query: {content}
    similarity          task: sentence similarity | query: {content}

Retrieval is asymmetric: ``retrieval_query``, ``question_answering``, ``fact_verification`` and
``code_retrieval`` are the *query* side of their use case, and the documentation embeds the
documents they search (passages, facts, code) with the document form, ``retrieval_document``,
in every one of them. Only ``classification``, ``clustering`` and ``similarity`` are symmetric
(the same form on both sides). :func:`document_task` gives the task for the corpus.

The documentation gives these forms for text. In a content with several text parts the first
one is formatted; a content without text (an image alone) is sent unchanged, since no
documented form exists for it. A custom ``task_instruction`` is either a template holding
``{content}`` or a task name (``"my task"`` becomes ``task: my task | query: {content}``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from .errors import InputError
from .limits import MEDIA_SUFFIXES, sniff_media
from .media import Audio, Document, Image, Video, read_input_file

__all__ = ["TASKS", "Part", "PartInput", "Task", "as_part", "as_parts", "document_task", "resolve_task",
           "warn_file_name_strings"]

Part = str | Image | Video | Document | Audio
PartInput = Union[Part, bytes, bytearray, memoryview, "os.PathLike[str]"]

_MEDIA_BY_KIND: dict[str, type[Image] | type[Video] | type[Document] | type[Audio]] = {
    "image": Image, "video": Video, "document": Document, "audio": Audio,
}
_MAX_SNIFFED_FILE_BYTES = 30 * 1024 * 1024


@dataclass(frozen=True)
class Task:
    """A task instruction: ``template`` holds ``{content}`` (and ``{title}`` for documents)."""

    name: str
    template: str

    def format(self, text: str, *, title: str | None = None) -> str:
        return self.template.format(content=text, title=title if title else "none")


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("retrieval_query", "task: search result | query: {content}"),
        Task("retrieval_document", "title: {title} | text: {content}"),
        Task("question_answering", "task: question answering | query: {content}"),
        Task("fact_verification", "task: fact checking | query: {content}"),
        Task("code_retrieval", "task: code retrieval | query: {content}"),
        Task("classification", "task: classification | query: {content}"),
        Task("clustering", "task: clustering | query: {content}"),
        Task("similarity", "task: sentence similarity | query: {content}"),
    )
}
# The old task_type names users bring from text-embedding models.
_ALIASES = {
    "search_query": "retrieval_query", "query": "retrieval_query", "search_document": "retrieval_document",
    "document": "retrieval_document", "semantic_similarity": "similarity", "fact_checking": "fact_verification",
    "code_retrieval_query": "code_retrieval",
}


def resolve_task(task: str | Task | None = None, task_instruction: str | None = None) -> Task | None:
    """The :class:`Task` for a preset name (``retrieval_query``...; old ``task_type`` names such
    as ``RETRIEVAL_DOCUMENT`` work too) or a free-form ``task_instruction``; None for neither."""
    if task is not None and task_instruction is not None:
        raise InputError("give task= (a preset) or task_instruction= (free form), not both", input_name="task")
    if isinstance(task, Task):
        return task
    if task is not None:
        key = str(task).strip().lower().replace("-", "_").replace(" ", "_")
        key = _ALIASES.get(key, key)
        if key not in TASKS:
            raise InputError(f"unknown task {task!r}; presets: {', '.join(TASKS)} (or pass task_instruction=...)",
                             input_name="task")
        return TASKS[key]
    if task_instruction is not None:
        if not isinstance(task_instruction, str) or not task_instruction.strip():
            raise InputError("task_instruction must be a non-empty string", input_name="task_instruction")
        template = task_instruction
        if "{content}" not in template:
            template = f"task: {task_instruction.strip()} | query: {{content}}"
        try:
            template.format(content="", title="")
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"task_instruction {task_instruction!r} is not a valid template ({exc}); the only "
                             "fields are {content} and {title}", input_name="task_instruction") from exc
        digest = hashlib.sha256(template.encode()).hexdigest()[:10]
        return Task(f"custom-{digest}", template)
    return None


#: The query tasks of asymmetric retrieval ("Get multimodal embeddings", "Task types": the
#: document structure of each is ``title: {title} | text: {content}``).
_QUERY_SIDE = frozenset({"retrieval_query", "question_answering", "fact_verification", "code_retrieval"})


def document_task(task: str | Task | None) -> Task | None:
    """The task to embed the *searched* side with, for queries embedded with ``task``:
    ``retrieval_document`` for the query tasks of asymmetric retrieval, ``task`` itself for the
    symmetric ones and custom instructions."""
    resolved = resolve_task(task)
    if resolved is not None and resolved.name in _QUERY_SIDE:
        return TASKS["retrieval_document"]
    return resolved


def as_part(x: object, *, index: int = 0) -> Part:
    """One part: text stays text; media objects stay; ``Path`` and bytes are sniffed."""
    if isinstance(x, (str, Image, Video, Document, Audio)):
        return x
    name = f"parts[{index}]"
    if isinstance(x, os.PathLike):
        path = os.fspath(x)
        data = read_input_file(path, kind="media", max_bytes=_MAX_SNIFFED_FILE_BYTES)
        return _sniffed(data, name=str(path))
    if isinstance(x, (bytes, bytearray, memoryview)):
        return _sniffed(bytes(x), name=name)
    raise InputError(f"{name}: cannot use {type(x).__name__} as a content part; pass str (text), "
                     "Image, Video, Document, Audio, a pathlib.Path or bytes", input_name=name)


def _sniffed(data: bytes, *, name: str) -> Part:
    found = sniff_media(data)
    if found is None:
        raise InputError(f"{name}: {len(data):,} bytes that are no image, PDF, audio or video format known here "
                         f"(first bytes {data[:8]!r})", input_name=name)
    return _MEDIA_BY_KIND[found[0]](data, name=name)


def warn_file_name_strings(contents: Sequence[object], *, call: str = "embed_contents") -> None:
    """Warn once when whole ``str`` items are names of existing media files, and once when they
    are ``gs://`` URIs of media: a ``str`` is always embedded as text (the name, not the file),
    which is rarely what ``glob.glob(...)`` meant. What is embedded does not change; only paths
    with a media suffix are looked up."""
    _warn_texts(call, [c for c in contents if isinstance(c, str) and _names_a_media_file(c)],
                "is the name of an existing media file; a str is embedded as text, so this is the embedding of the "
                "file name, not of the file. Pass pathlib.Path(...) (or Image / Document / Video / Audio) to embed the file")
    _warn_texts(call, [c for c in contents if isinstance(c, str) and _is_gcs_media_uri(c)],
                "is a gs:// URI of a media file; a str is embedded as text, so this is the embedding of the URI, not "
                "of the object. Pass Image(gcs_uri=...) (or Document / Video / Audio) to embed the object")


def _warn_texts(call: str, found: list[str], why: str) -> None:
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        warnings.warn(f"{call}: the text {found[0]!r}{more} {why}", UserWarning, stacklevel=4)


def _is_gcs_media_uri(text: str) -> bool:
    return (text.startswith("gs://") and len(text) <= 4096 and not any(c.isspace() for c in text)
            and os.path.splitext(text)[1].lower() in MEDIA_SUFFIXES)


def _names_a_media_file(text: str) -> bool:
    if len(text) > 4096 or "\n" in text or "\x00" in text:
        return False
    if os.path.splitext(text)[1].lower() not in MEDIA_SUFFIXES:
        return False
    try:
        return os.path.isfile(text)
    except (OSError, ValueError):  # unencodable names and the like are not files
        return False


def as_parts(content: object) -> tuple[Part, ...]:
    """The parts of one content: a single part, or a sequence of parts (a list, a tuple)."""
    if isinstance(content, (str, bytes, bytearray, memoryview, os.PathLike, Image, Video, Document, Audio)):
        return (as_part(content),)
    if isinstance(content, Sequence):
        if not content:
            raise InputError("a content needs at least one part", input_name="content")
        return tuple(as_part(p, index=i) for i, p in enumerate(content))
    raise InputError(f"cannot use {type(content).__name__} as a content; pass a part or a list of parts",
                     input_name="content")
