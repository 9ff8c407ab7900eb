"""The repository sync controller: each registered repository synced on its schedule.

One supervisor follows Repository objects through an informer and keeps one task per
repository in its own nursery. A repository's task syncs it (fetch, then
reconcile the store with git), writes the Ready condition and the sync fields of its
status, and sleeps until the next full sync (``spec.sync.schedule`` cron, else the
default interval), a due ``spec.sync.runOnceAt``, or a change of its spec. Failures
are retried sooner or later by their type (network, credentials, missing repository).
A slow or dead repository only ever delays its own task.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio
from croniter import croniter

from porch_embedded import metrics
from porch_embedded.engine import Engine
from porch_embedded.errors import (
    Conflict,
    Internal,
    NotFound,
    RepositoryAuthFailed,
    RepositoryNotFound,
    RepositoryUnavailable,
    StatusError,
)
from porch_embedded.kinds import REPOSITORY, Body
from porch_embedded.meta import format_time, parse_time
from porch_embedded.store import Informer, WatchEvent

__all__ = ["SyncSettings", "run_repository_sync"]

log = logging.getLogger("porch_embedded.controllers.sync")


@dataclass(frozen=True)
class SyncSettings:
    default_interval_s: float = 600.0
    health_interval_s: float = 120.0
    """A cheap check (ls-remote, branch present) between full syncs, as Porch's controller does."""
    sync_timeout_s: float = 300.0
    """The budget of a full sync once the repository has been synced by this process."""
    first_sync_timeout_s: float = 3600.0
    """The budget of a repository's first full sync in this process (and after a spec
    change): it reads every revision (100,000 take minutes), which the later syncs' budget
    would cut short again and again. Its store writes land package by package, so even a
    first sync that runs out of time leaves its progress for the next one."""
    retry_s: Mapping[type[Exception], float] = field(default_factory=lambda: {
        RepositoryAuthFailed: 600.0, RepositoryNotFound: 120.0, RepositoryUnavailable: 30.0,
        trio.TooSlowError: 60.0, Exception: 30.0})
    """Seconds until a failed repository is tried again, by the error's type: the entry of
    its nearest class (``Exception`` is the default)."""

    def retry_after(self, error: Exception) -> float:
        """The delay of the most specific type of ``error`` that ``retry_s`` names."""
        for cls in type(error).__mro__:
            if cls in self.retry_s:
                return self.retry_s[cls]
        return 30.0


@dataclass
class _Follow:
    """What the supervisor knows of one repository's task."""

    scope: trio.CancelScope
    wake: trio.Event
    generation: int
    run_once_at: str


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _next_full_sync(repository: Body, after: _dt.datetime, default_s: float) -> _dt.datetime:
    schedule = ((repository.get("spec") or {}).get("sync") or {}).get("schedule") or ""
    if schedule and croniter.is_valid(schedule):
        moment: _dt.datetime = croniter(schedule, after).get_next(_dt.datetime)
        return moment
    return after + _dt.timedelta(seconds=default_s)


def _run_once_due(repository: Body) -> _dt.datetime | None:
    run_once_at = ((repository.get("spec") or {}).get("sync") or {}).get("runOnceAt") or ""
    observed = (repository.get("status") or {}).get("observedRunOnceAt") or ""
    if not run_once_at or run_once_at == observed:
        return None
    try:
        return parse_time(run_once_at)
    except ValueError:
        return None


async def _write_status(engine: Engine, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Merge ``status`` into the Repository's status, retrying when it changed under us."""
    for _ in range(5):
        try:
            current = await engine.store.get(REPOSITORY.resource, namespace, name)
        except NotFound:
            return
        previous = current.get("status") or {}
        merged = {**previous, **status}
        old_ready = next((c for c in previous.get("conditions") or () if c.get("type") == "Ready"), None)
        new_ready = merged["conditions"][0]
        if old_ready and old_ready.get("status") == new_ready["status"]:
            new_ready["lastTransitionTime"] = old_ready.get("lastTransitionTime", new_ready["lastTransitionTime"])
        if merged == previous:
            return
        body = {**current, "status": merged}
        try:
            await engine.update(REPOSITORY, body, subresource="status", current=current)
            return
        except Conflict:
            continue


def _condition(ready: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {"type": "Ready", "status": "True" if ready else "False", "reason": reason, "message": message,
            "lastTransitionTime": format_time(_now()), "observedGeneration": generation}


async def _full_sync(engine: Engine, settings: SyncSettings, repository: Body, *,
                     budget_s: float) -> tuple[dict[str, Any], float]:
    """Sync one repository within ``budget_s``; return the status to write and how long until the next."""
    namespace, name = repository["metadata"]["namespace"], repository["metadata"]["name"]
    generation = int(repository["metadata"].get("generation", 1))
    started = _now()
    try:
        with metrics.timed(metrics.REPOSITORY_SYNC_SECONDS, namespace=namespace, repository=name), \
                trio.fail_after(budget_s):
            result = await engine.sync_repository(namespace, name)
    except trio.TooSlowError as error:
        return _failure(settings, namespace, name, generation, error, budget_s)
    except StatusError as error:
        return _failure(settings, namespace, name, generation, error)
    except Exception as error:  # a bug syncing one repository must not stop the others
        log.exception("unexpected error syncing repository %s/%s", namespace, name)
        return _failure(settings, namespace, name, generation, _bug(error))
    following = _next_full_sync(repository, started, settings.default_interval_s)
    status = {
        "conditions": [_condition(True, "Ready", "Repository Ready", generation)],
        "lastFullSyncTime": format_time(started), "nextFullSyncTime": format_time(following),
        "observedGeneration": generation, "packageCount": result.package_count, "gitCommitHash": result.commit,
    }
    return status, max(1.0, (following - _now()).total_seconds())


def _bug(error: Exception) -> Internal:
    return Internal(f"internal error while syncing ({type(error).__name__}); the server log has the details")


def _failure(settings: SyncSettings, namespace: str, name: str, generation: int,
             error: StatusError | trio.TooSlowError, budget_s: float | None = None) -> tuple[dict[str, Any], float]:
    message = error.message if isinstance(error, StatusError) else \
        f"sync did not finish within {budget_s if budget_s is not None else settings.sync_timeout_s:.0f} s"
    retry = settings.retry_after(error)
    log.warning("repository %s/%s failed: %s (retry in %.0f s)", namespace, name, message, retry)
    return {"conditions": [_condition(False, "Error", message, generation)], "observedGeneration": generation,
            "nextFullSyncTime": format_time(_now() + _dt.timedelta(seconds=retry))}, retry


async def _follow_repository(engine: Engine, settings: SyncSettings, namespace: str, name: str,
                             follow: _Follow) -> None:
    """Full syncs on schedule, cheap health checks (ls-remote) in between, wake-ups on spec changes."""
    next_full = trio.current_time()
    synced_spec: Any = None
    """The spec (less its ``sync`` schedule) this task last synced successfully: until it has
    synced the repository as it is now, a sync is a first sync."""
    while True:
        try:
            repository = await engine.store.get(REPOSITORY.resource, namespace, name)
        except NotFound:
            return
        due_once = _run_once_due(repository)
        once_in = (due_once - _now()).total_seconds() if due_once is not None else float("inf")
        if once_in <= 0 or trio.current_time() >= next_full:
            spec = {key: value for key, value in (repository.get("spec") or {}).items() if key != "sync"}
            budget = settings.sync_timeout_s if spec == synced_spec else settings.first_sync_timeout_s
            status, until_next = await _full_sync(engine, settings, repository, budget_s=budget)
            if status["conditions"][0]["status"] == "True":
                synced_spec = spec
            if due_once is not None and once_in <= 0:
                status["observedRunOnceAt"] = repository["spec"]["sync"]["runOnceAt"]
                once_in = float("inf")
            await _write_status(engine, namespace, name, status)
            next_full = trio.current_time() + until_next
        else:
            try:
                with trio.fail_after(settings.sync_timeout_s):
                    await engine.check_repository(namespace, name)
            except Exception as error:  # noqa: BLE001 - a bug here must not stop the other repositories
                if not isinstance(error, (StatusError, trio.TooSlowError)):
                    log.exception("unexpected error checking repository %s/%s", namespace, name)
                    error = _bug(error)
                generation = int(repository["metadata"].get("generation", 1))
                status, retry = _failure(settings, namespace, name, generation, error)
                await _write_status(engine, namespace, name, status)
                next_full = min(next_full, trio.current_time() + retry)
        wait = min(next_full - trio.current_time(), settings.health_interval_s, once_in)
        follow.wake = trio.Event()
        with trio.move_on_after(max(0.0, wait)):
            await follow.wake.wait()
            next_full = trio.current_time()


async def run_repository_sync(engine: Engine, settings: SyncSettings | None = None, *,
                              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Keep every registered repository synced until cancelled."""
    settings = settings or SyncSettings()
    follows: dict[tuple[str, str], _Follow] = {}

    async with trio.open_nursery() as nursery:

        async def start(repository: Body) -> None:
            metadata = repository["metadata"]
            key = (metadata["namespace"], metadata["name"])
            generation = int(metadata.get("generation", 1))
            run_once_at = ((repository.get("spec") or {}).get("sync") or {}).get("runOnceAt") or ""
            follow = follows.get(key)
            if follow is not None:
                if (follow.generation, follow.run_once_at) != (generation, run_once_at):
                    follow.generation, follow.run_once_at = generation, run_once_at
                    follow.wake.set()
                return
            follow = _Follow(trio.CancelScope(), trio.Event(), generation, run_once_at)
            follows[key] = follow

            async def run_one() -> None:
                with follow.scope:
                    await _follow_repository(engine, settings, key[0], key[1], follow)
                if follows.get(key) is follow:
                    del follows[key]

            nursery.start_soon(run_one)

        async def changed(event: WatchEvent) -> None:
            if event.type != "DELETED":
                await start(event.object)
                return
            metadata = event.object["metadata"]
            follow = follows.pop((metadata["namespace"], metadata["name"]), None)
            if follow is not None:
                follow.scope.cancel()

        await nursery.start(Informer(engine.store, REPOSITORY.resource, changed, name="repository sync").run)
        task_status.started()
