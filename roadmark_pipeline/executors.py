"""Which Dagster executor runs the steps of a launched run, chosen by configuration.

``ROADMARK_EXECUTOR`` picks it; unset or empty keeps Dagster's default (each step in its own
process, or in-process when a run asks for it), which is what ``make dev`` and the demo use. The
demo calls ``execute_in_process`` and is in-process whatever is chosen here.

=============  ==========================================================================
value          executor
=============  ==========================================================================
in_process     every step in the run worker's process (cheapest per step, no parallelism)
multiprocess   one child process per step on the run worker's machine
celery         steps queued to Celery workers (``dagster-celery worker start``), any number
               of machines; broker ``$ROADMARK_CELERY_BROKER``, result backend
               ``$ROADMARK_CELERY_BACKEND`` (default: the broker when it is Redis, else rpc)
k8s            one Kubernetes Job per step (``dagster_k8s.k8s_job_executor``), with the run
               launched by the ``K8sRunLauncher`` of ``deploy/k8s``
=============  ==========================================================================

``dagster_celery`` and ``dagster_k8s`` are imported only when chosen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

EXECUTOR_ENV = "ROADMARK_EXECUTOR"
CELERY_BROKER_ENV = "ROADMARK_CELERY_BROKER"
CELERY_BACKEND_ENV = "ROADMARK_CELERY_BACKEND"
EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


class ExecutorConfigError(ValueError):
    """The executor settings in the environment name something that cannot be used."""


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """Return the executor ``$ROADMARK_EXECUTOR`` names, or None for Dagster's default.

    Args:
        environ: The environment to read (``os.environ`` when None).

    Returns:
        The executor definition to pass to ``dg.Definitions(executor=...)``; None when the
        variable is unset or empty, which keeps Dagster's default executor.

    Raises:
        ExecutorConfigError: The value is not one of :data:`EXECUTORS`, or ``celery`` is chosen
            without ``$ROADMARK_CELERY_BROKER``.
    """
    env = os.environ if environ is None else environ
    choice = env.get(EXECUTOR_ENV, "").strip().lower().replace("-", "_")
    if not choice:
        return None
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice == "celery":
        return _celery_executor(env)
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ExecutorConfigError(
        f"{EXECUTOR_ENV}={env.get(EXECUTOR_ENV)!r} is not an executor roadmark knows; "
        f"set it to one of {', '.join(EXECUTORS)}, or unset it for Dagster's default"
    )


def celery_urls(environ: Mapping[str, str]) -> tuple[str, str]:
    """Return the Celery broker and result backend URLs from the environment.

    Args:
        environ: The environment to read.

    Returns:
        ``(broker, backend)``. The backend is ``$ROADMARK_CELERY_BACKEND`` when set, else the
        broker itself when that is Redis, else ``rpc://`` (results over the AMQP broker).

    Raises:
        ExecutorConfigError: ``$ROADMARK_CELERY_BROKER`` is unset or empty.
    """
    broker = environ.get(CELERY_BROKER_ENV, "").strip()
    if not broker:
        raise ExecutorConfigError(
            f"{EXECUTOR_ENV}=celery needs {CELERY_BROKER_ENV}, the broker the Celery workers "
            "listen on (e.g. redis://127.0.0.1:6379/0); set it for the code location, the run "
            "workers and the Celery workers alike"
        )
    default_backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    backend = environ.get(CELERY_BACKEND_ENV, "").strip() or default_backend
    return broker, backend


def _celery_executor(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    broker, backend = celery_urls(environ)  # checked here: a clear error at load time
    # The URLs may carry passwords: the definition names the variables, and Dagster reads them
    # where the run executes, so the UI never shows their values.
    if environ.get(CELERY_BACKEND_ENV, "").strip():
        backend_config: str | dict[str, str] = {"env": CELERY_BACKEND_ENV}
    elif backend == broker:
        backend_config = {"env": CELERY_BROKER_ENV}
    else:
        backend_config = backend
    return celery_executor.configured(
        {"broker": {"env": CELERY_BROKER_ENV}, "backend": backend_config}, name="celery"
    )
