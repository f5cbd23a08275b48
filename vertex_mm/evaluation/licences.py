"""Which licences let a file into the evaluation sets: each allows redistribution (with
attribution for CC-BY, share-alike for -SA), so the sets can be rebuilt and shared."""

from __future__ import annotations

import re

__all__ = ["LICENSE_ALLOW_LIST", "license_allowed"]

LICENSE_ALLOW_LIST = frozenset({
    "CC0-1.0", "public-domain", "CC-BY-2.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-2.0", "CC-BY-SA-3.0",
    "CC-BY-SA-4.0", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "LGPL-2.1-or-later",
    "LGPL-3.0-only", "LPPL-1.3", "LPPL-1.3c",
})
_OR = re.compile(r"\s+OR\s+")


def license_allowed(expression: str) -> bool:
    """True when every alternative of an SPDX-like ``A OR B`` expression is on the allow-list."""
    parts = _OR.sub("\n", expression).splitlines()
    return bool(parts) and all(part.strip() in LICENSE_ALLOW_LIST for part in parts)
