"""The one table of input limits, shared by the client, the local backend and the emulator.

* :mod:`.formats` — formats decided from the bytes, their MIME types, file suffixes;
* :mod:`.models` — what each model accepts (:class:`ModelLimits`, with sources);
* :mod:`.checks` — checks of single inputs (dimension, image, video, text, gs:// URI);
* :mod:`.request` — the size of one whole request (every part together);
* :mod:`.content` — checks of gemini-embedding-2 contents (PDF pages, audio and video
  durations, parts per content).

Every check runs before any network call and raises a typed :mod:`vertex_mm.errors` error
whose message names the input and the limit it broke.
"""

from __future__ import annotations

from . import checks, formats, models, request

# Each submodule lists its public names once, in its own __all__.
from .checks import *  # noqa: F403
from .formats import *  # noqa: F403
from .models import *  # noqa: F403
from .request import *  # noqa: F403

__all__ = checks.__all__ + formats.__all__ + models.__all__ + request.__all__
