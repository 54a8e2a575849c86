"""Incremental rollouts of datasets inside Apache DataFusion, from Python.

    import datafusion_rollout as dr
    s = dr.connect("./rollout_store", consumer="alice")
    s.sql("SELECT avg(amount) FROM orders").to_pandas()   # the version alice should see

``Session.sql`` runs any statement (``PROMOTE``, ``ROLLBACK``, ``CHECK``, ... and DataFusion's
SQL) and returns a ``Result`` that implements the Arrow PyCapsule interface
(``__arrow_c_stream__``): ``pyarrow.table(r)``, ``polars.from_arrow(r)``, ``r.to_pandas()``.

With datafusion-python 55 (``pip install datafusion-rollout[datafusion]``), a
``datafusion.SessionContext`` you already have reads the store's datasets too, through FFI::

    from datafusion import SessionConfig, SessionContext
    ctx = SessionContext(SessionConfig().with_extension(dr.RolloutConfig()))
    ctx.register_catalog_provider("rollout", dr.RolloutCatalog("./rollout_store"))
    dr.register_functions(ctx)                  # null_count, ks_statistic, ... rollout_bucket
    ctx.sql("SET rollout.consumer = 'alice'")
    ctx.sql("SELECT avg(amount) FROM rollout.public.orders")   # alice's version
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, List, Optional, Union

from ._native import (
    AggregateFunction,
    AssertionFailedError,
    AuthenticationError,
    ConcurrentModificationError,
    GuardFailedError,
    NotFoundError,
    ParseError,
    PermissionDeniedError,
    Result,
    RolloutCatalog,
    RolloutConfig,
    RolloutError,
    RolloutTable,
    ScalarFunction,
    Session,
    __version__,
)
from ._native import connect as _connect
from ._native import functions as _functions

if TYPE_CHECKING:
    import datafusion

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
    "AuthenticationError",
    "PermissionDeniedError",
    "RolloutCatalog",
    "RolloutTable",
    "RolloutConfig",
    "AggregateFunction",
    "ScalarFunction",
    "functions",
    "register_functions",
    "__version__",
]


def connect(
    store: Union[str, "os.PathLike[str]"],
    consumer: Optional[str] = None,
    cohort: Optional[str] = None,
    actor: Optional[str] = None,
    record_reads: bool = True,
    consistency: str = "statement",
    user: Optional[str] = None,
    password: Optional[str] = None,
    token: Optional[str] = None,
    cluster: Optional[str] = None,
) -> Session:
    """Opens (or creates) the rollout store at ``store`` and returns a session on it.

    ``store`` is a local path, ``file://...``, ``memory://name`` or ``s3://bucket/prefix``.
    ``consumer`` is who reads (``rollout.consumer``), ``cohort`` a cohort the session joins
    explicitly (``rollout.cohort``), ``actor`` who is recorded in the history for changes
    (defaults to the consumer, then the OS user). Every read through a dataset's name is
    recorded in the store's reads ledger (``rollout_reads('orders')``) unless ``record_reads``
    is false; call ``close()`` (or use the session in a ``with`` block) before the process
    exits so that buffered reads and metrics reach the store. ``consistency="session"`` keeps,
    for the session's life, the version each dataset first resolved to (a notebook or job that
    must not mix versions while a rollout advances); a rolled-back version is still dropped.

    A store with users asks every session to log in: ``user`` with ``password``, or an API
    ``token`` (``CREATE TOKEN FOR svc``); they default to the ``ROLLOUT_USER``,
    ``ROLLOUT_PASSWORD`` and ``ROLLOUT_TOKEN`` environment variables. The session then reads as
    that user and every change is recorded as theirs; a wrong login raises
    ``AuthenticationError``, a missing privilege ``PermissionDeniedError``.

    ``cluster`` (``df://host:port``, default ``ROLLOUT_CLUSTER``) runs queries on an Apache
    DataFusion Ballista cluster of ``rollout-scheduler`` and ``rollout-executor`` processes on
    the same store; datasets still resolve here, for this session's consumer.
    """
    user = user if user is not None else os.environ.get("ROLLOUT_USER")
    password = password if password is not None else os.environ.get("ROLLOUT_PASSWORD")
    token = token if token is not None else os.environ.get("ROLLOUT_TOKEN")
    cluster = cluster if cluster is not None else os.environ.get("ROLLOUT_CLUSTER")
    return _connect(
        os.fspath(store),
        consumer,
        cohort,
        actor,
        record_reads,
        consistency,
        user,
        password,
        token,
        cluster,
    )


def functions() -> List[Union[AggregateFunction, ScalarFunction]]:
    """The quality and drift aggregates (``null_count``, ``ks_statistic``, ...) and the
    ``rollout_bucket`` scalar function, as datafusion-python FFI functions."""
    return _functions()


def register_functions(ctx: "datafusion.SessionContext") -> None:
    """Registers every function of ``functions()`` on a datafusion-python ``SessionContext``."""
    import datafusion

    for f in _functions():
        if isinstance(f, AggregateFunction):
            ctx.register_udaf(datafusion.udaf(f))
        else:
            ctx.register_udf(datafusion.udf(f))
