"""Incremental rollouts of datasets inside Apache DataFusion, from Python.

    import datafusion_rollout as dr
    s = dr.connect("./rollout_store", consumer="alice")
    s.sql("SELECT avg(amount) FROM orders").to_pandas()   # the version alice should see

``Session.sql`` runs any statement (``PROMOTE``, ``ROLLBACK``, ``CHECK``, ... and DataFusion's
SQL) and returns a ``Result`` that implements the Arrow PyCapsule interface
(``__arrow_c_stream__``): ``pyarrow.table(r)``, ``polars.from_arrow(r)``, ``r.to_pandas()``.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from ._native import (
    AssertionFailedError,
    ConcurrentModificationError,
    GuardFailedError,
    NotFoundError,
    ParseError,
    Result,
    RolloutError,
    Session,
    __version__,
)
from ._native import connect as _connect

__all__ = [
    "connect",
    "Session",
    "Result",
    "RolloutError",
    "ParseError",
    "NotFoundError",
    "GuardFailedError",
    "ConcurrentModificationError",
    "AssertionFailedError",
    "__version__",
]


def connect(
    store: Union[str, "os.PathLike[str]"],
    consumer: Optional[str] = None,
    cohort: Optional[str] = None,
    actor: Optional[str] = None,
) -> Session:
    """Opens (or creates) the rollout store at ``store`` and returns a session on it.

    ``store`` is a local path, ``file://...``, ``memory://name`` or ``s3://bucket/prefix``.
    ``consumer`` is who reads (``rollout.consumer``), ``cohort`` a cohort the session joins
    explicitly (``rollout.cohort``), ``actor`` who is recorded in the history for changes
    (defaults to the consumer, then the OS user).
    """
    return _connect(os.fspath(store), consumer, cohort, actor)
