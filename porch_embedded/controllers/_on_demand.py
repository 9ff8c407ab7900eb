"""Informers that run only while something needs them.

The variant controllers react to PackageRevisions (and Repositories, ConfigMaps) only on
behalf of their own objects; most deployments have none. An informer's first list reads
and decodes every object of its resource (12,500 PackageRevisions at 10,000 revisions)
and keeps a copy of each: at start that competes with the API's first list, and for a
controller with nothing to reconcile it is wasted. ``OnDemand`` starts such informers
when the first object that needs them appears and stops them, dropping what they hold,
when the last one is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import trio

from porch_embedded.store import Informer

__all__ = ["OnDemand"]

log = logging.getLogger("porch_embedded.controllers.on_demand")


class _Run:
    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.settled = trio.Event()
        """Set once every informer reported started, or the run ended (stopped first)."""


class OnDemand:
    """Runs the informers ``make`` returns, in ``nursery``, between ``start`` and ``stop``.

    Each start makes new informers (a first list again), so that a stop frees all they
    held. The informers' handlers only trigger reconciles that read the store themselves,
    so what changed while stopped is not lost: the next start's first list delivers it.
    """

    def __init__(self, nursery: trio.Nursery, make: Callable[[], Sequence[Informer]], *, name: str) -> None:
        self._nursery, self._make, self._name = nursery, make, name
        self._run: _Run | None = None

    @property
    def running(self) -> bool:
        return self._run is not None

    async def start(self) -> None:
        """Start the informers unless running; return once their first lists went through their handlers."""
        run = self._run
        if run is None:
            run = self._run = _Run()
            log.debug("%s: starting", self._name)
            self._nursery.start_soon(self._follow, run)
        await run.settled.wait()

    def stop(self) -> None:
        """Stop the informers (if running); a ``start`` under way returns early."""
        run, self._run = self._run, None
        if run is not None:
            log.debug("%s: stopping", self._name)
            run.scope.cancel()

    async def _follow(self, run: _Run) -> None:
        try:
            with run.scope:
                async with trio.open_nursery() as nursery:
                    for informer in self._make():
                        await nursery.start(informer.run)
                    run.settled.set()
                    await trio.sleep_forever()
        finally:
            run.settled.set()
