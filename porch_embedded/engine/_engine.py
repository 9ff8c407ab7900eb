"""The engine facade the API and the controllers hold."""

from __future__ import annotations

from porch_embedded.errors import MethodNotAllowed, NotFound
from porch_embedded.kinds import NAMESPACE, PACKAGE, PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body, Kind
from porch_embedded.engine._objects import ObjectService
from porch_embedded.store import Store

__all__ = ["Engine"]

_PACKAGE_KINDS = (PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, PACKAGE)
_DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")


class Engine:
    """Routes every write to the code that owns its rules.

    API-only kinds (Repository, PackageVariant(Set), Secret, Namespace) go through
    ObjectService's generic semantics; package kinds go through the package lifecycle.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.objects = ObjectService(store)

    async def ensure_default_namespaces(self) -> None:
        """Create default, kube-system and kube-public on first start, as a cluster has them."""
        for name in _DEFAULT_NAMESPACES:
            try:
                await self.store.get(NAMESPACE.resource, "", name)
            except NotFound:
                await self.objects.create(NAMESPACE, {"metadata": {"name": name}})

    def _refuse_package_write(self, kind: Kind) -> None:
        if kind is PACKAGE:
            raise MethodNotAllowed(
                "packages are read-only: create or clone a PackageRevision resource to create a package"
            )
        if kind in _PACKAGE_KINDS:
            raise MethodNotAllowed(
                f"{kind.plural} are written by the package lifecycle engine, which this server "
                "version does not include yet"
            )

    async def create(self, kind: Kind, body: Body, *, dry_run: bool = False) -> Body:
        self._refuse_package_write(kind)
        return await self.objects.create(kind, body, dry_run=dry_run)

    async def update(self, kind: Kind, body: Body, *, subresource: str = "", dry_run: bool = False,
                     current: Body | None = None) -> Body:
        self._refuse_package_write(kind)
        return await self.objects.update(kind, body, subresource=subresource, dry_run=dry_run, current=current)

    async def delete(self, kind: Kind, namespace: str, name: str, *, expect_rv: str | None = None,
                     expect_uid: str | None = None, dry_run: bool = False) -> Body:
        self._refuse_package_write(kind)
        return await self.objects.delete(kind, namespace, name, expect_rv=expect_rv, expect_uid=expect_uid,
                                         dry_run=dry_run)
