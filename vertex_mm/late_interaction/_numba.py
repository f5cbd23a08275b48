"""Whether numba loads here: the one check before a compiled kernel module is imported.

numba refuses some settings when it is imported (``NUMBA_NUM_THREADS=0`` raises ValueError),
and that is not an ImportError: caught only as one, it broke ``save()`` and the binary search
instead of turning the compiled kernels off, as a missing numba does. Said once, as a warning
that names the setting.
"""

from __future__ import annotations

import functools
import warnings

__all__ = ["numba_loads"]


@functools.cache
def numba_loads() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    except ValueError as exc:  # numba's config check (NUMBA_NUM_THREADS and friends)
        warnings.warn(f"numba refused its settings ({exc}; check NUMBA_NUM_THREADS and the other NUMBA_* "
                      "variables): the compiled MaxSim kernels are off, and numpy scores instead", RuntimeWarning,
                      stacklevel=2)
        return False
    return True
