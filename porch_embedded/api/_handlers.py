"""The resource verbs: get, list, watch, create, update, patch, delete, deletecollection.

One generic implementation serves every kind from its Kind data; the engine decides
what a write means, the store answers reads. Decoding, strict field validation,
selectors, pagination and Table output happen here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from porch_embedded.api._codec import Accept, decode_body, encode_json, media_type, parse_accept
from porch_embedded.api._http import Request, Send, send_bytes
from porch_embedded.api._requestinfo import RequestInfo
from porch_embedded.api._status import success_status
from porch_embedded.api._table import table
from porch_embedded.api._watch import WatchRequest, WatchStop, stream_watch
from porch_embedded.engine import Engine
from porch_embedded.errors import BadRequest, Conflict, MethodNotAllowed, NotFound
from porch_embedded.kinds import Body, Kind, field_matches, prune_unknown
from porch_embedded.meta import PATCH_TYPES, FieldSelector, LabelSelector, apply_patch, json_merge_patch
from porch_embedded.store import ListQuery, Store, method_not_supported

__all__ = ["HandlerSettings", "ResourceHandlers"]


@dataclass(frozen=True)
class HandlerSettings:
    max_body_bytes: int = 6 * 1024 * 1024
    """Porch's default request size limit (--max-request-body-size, 6 MiB)."""
    default_watch_timeout_s: float = 1800.0
    bookmark_interval_s: float = 60.0
    max_list_limit: int = 0
    """0: lists are unbounded unless the client pages."""


_INT64_MAX = 2**63 - 1

PATCH_ATTEMPTS = 100
"""How often a patch or apply that names no resourceVersion is read and applied again when another
writer changed the object between its read and its write (a controller writing status, say). Each
round lets at least one contender through, so this bounds a pathological storm, not ordinary
contention; a kube-apiserver retries without a bound."""


def _query_count(request: Request, name: str, meaning: str) -> int | None:
    """A whole-number query parameter (None when absent), parsed as the kube-apiserver parses it.

    Go's ParseInt takes ASCII digits only (Python's int() also takes '٣', and isdigit()
    passes '²', which int() then refuses) and nothing beyond int64, which is also the
    most the stores can compare against. Raises BadRequest saying what the value means.
    """
    text = request.query.get(name, "")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > _INT64_MAX:
        raise BadRequest(f"{name} must be {meaning}: a whole number from 0 to {_INT64_MAX}, not {text!r}")
    return int(text)


_MAX_WARNINGS = 50
"""Python's http.client (requests, the Kubernetes Python client) drops a response with more than
100 header lines, so a body with hundreds of unknown fields gets this many warnings and a count."""
_MAX_WARNING_CHARS = 4096
_MAX_WARNING_ITEM_CHARS = 256
"""The kube-apiserver's bounds: 4 KiB of warning text per response, long items cut to 256."""


def _bounded_warnings(warnings: Sequence[str]) -> list[str]:
    """``warnings`` without repeats, within the bounds above; the last one counts what was left out."""
    unique = [w if len(w) <= _MAX_WARNING_ITEM_CHARS else w[:_MAX_WARNING_ITEM_CHARS] + "..."
              for w in dict.fromkeys(warnings)]
    kept: list[str] = []
    size = 0
    for text in unique:
        if len(kept) == _MAX_WARNINGS or size + len(text) > _MAX_WARNING_CHARS:
            kept.append(f"{len(unique) - len(kept)} more warnings left out")
            break
        kept.append(text)
        size += len(text)
    return kept


def _warning_value(text: str) -> str:
    """A Warning header value (``299 - "text"``) that any text fits in.

    Warnings quote what the client sent (unknown field names), which may hold quotes,
    control characters or line breaks; the text goes in as a JSON string, whose escapes
    are valid quoted-pairs, so the header stays one legal line of ASCII whatever it says.
    """
    return "299 - " + json.dumps(text)


def _delete_options(options: Any) -> dict[str, str]:
    """Check a delete's DeleteOptions body field by field; return its preconditions.

    The body is client input like any other, so each field the server reads must have
    the type DeleteOptions gives it (a delete that went ahead on a misread precondition
    would be worse than a refusal). Raises BadRequest naming the field to fix.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise BadRequest(f"the body of a delete must be a DeleteOptions object, not {type(options).__name__}")
    dry_run = options.get("dryRun")
    if dry_run is not None and (not isinstance(dry_run, list) or any(value != "All" for value in dry_run)):
        raise BadRequest(f'DeleteOptions dryRun must be a list whose only value is "All", not {dry_run!r}')
    preconditions = options.get("preconditions")
    if preconditions is None:
        return {}
    if not isinstance(preconditions, dict):
        raise BadRequest("DeleteOptions preconditions must be an object with resourceVersion and uid, "
                         f"not {type(preconditions).__name__}")
    for field_name in ("resourceVersion", "uid"):
        value = preconditions.get(field_name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"DeleteOptions preconditions.{field_name} must be a string, not {value!r}")
    return {k: v for k, v in preconditions.items() if k in ("resourceVersion", "uid") and v}


def _list_metadata(resource_version: int, continue_token: str, remaining: int | None) -> dict[str, Any]:
    """A list's metadata: its resourceVersion and, on a page that has a next one, continue and the count left."""
    metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if continue_token:
        metadata["continue"] = continue_token
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
    return metadata


class ResourceHandlers:
    def __init__(self, engine: Engine, store: Store, settings: HandlerSettings,
                 watch_stop: WatchStop | None = None) -> None:
        self._engine = engine
        self._store = store
        self._settings = settings
        self._watch_stop = watch_stop or WatchStop()

    # ---- helpers -------------------------------------------------------------------------

    @staticmethod
    def _stored(kind: Kind) -> Kind:
        """The kind the engine and the store hold: the storage version of a converted one."""
        return kind.conversion.storage if kind.conversion is not None else kind

    @staticmethod
    def _out(kind: Kind, body: Body) -> Body:
        """A stored object as the requested version shows it."""
        return kind.conversion.from_storage(body) if kind.conversion is not None else body

    @staticmethod
    def _in(kind: Kind, body: Body) -> Body:
        """A request's object (already checked against the requested version) as stored."""
        return kind.conversion.to_storage(body) if kind.conversion is not None else body

    def _accept(self, request: Request) -> Accept:
        return parse_accept(request.headers.get("accept"))

    async def _reply(self, send: Send, status: int, body: Any, accept: Accept,
                     warnings: list[str] | None = None) -> None:
        headers = [("warning", _warning_value(w)) for w in _bounded_warnings(warnings or ())]
        if accept.yaml:
            await send_bytes(send, status, yaml.safe_dump(body, sort_keys=False).encode(), "application/yaml", headers)
        else:
            await send_bytes(send, status, encode_json(body), "application/json", headers)

    def _list_query(self, kind: Kind, info: RequestInfo, request: Request) -> ListQuery:
        labels = LabelSelector.parse(request.query.get("labelSelector"))
        matches = field_matches(kind, FieldSelector.parse(request.query.get("fieldSelector")), info.namespace)
        limit = _query_count(request, "limit", "the most items to return") or 0
        return ListQuery(kind.resource, namespace=info.namespace, labels=labels, fields=matches,
                         limit=limit, continue_token=request.query.get("continue", ""))

    async def _decode_object(self, kind: Kind, info: RequestInfo, request: Request) -> tuple[Body, list[str]]:
        """Decode, check apiVersion/kind/namespace, and apply fieldValidation to unknown fields."""
        raw = await request.body(self._settings.max_body_bytes)
        content_type = media_type(request.headers.get("content-type"))
        body = decode_body(raw, content_type)
        if not isinstance(body, dict):
            raise BadRequest(f"the request body must be a {kind.kind} object, not {type(body).__name__}")
        return self._check_object(kind, info, request, body)

    def _check_object(self, kind: Kind, info: RequestInfo, request: Request, body: Body) -> tuple[Body, list[str]]:
        api_version, object_kind = body.get("apiVersion"), body.get("kind")
        if api_version and api_version != kind.api_version:
            raise BadRequest(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({kind.api_version})"
            )
        if object_kind and object_kind != kind.kind:
            raise BadRequest(f"the kind in the data ({object_kind}) does not match the expected kind ({kind.kind})")
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise BadRequest(f"{kind.kind} in version \"{kind.version}\" cannot be handled as a {kind.kind}: "
                             "metadata must be an object")
        if kind.namespaced:
            if metadata.get("namespace") and info.namespace and metadata["namespace"] != info.namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = info.namespace or metadata.get("namespace", "")
        if info.name and metadata.get("name") and metadata["name"] != info.name:
            raise BadRequest(
                f"the name of the object ({metadata['name']}) does not match the name on the URL ({info.name})"
            )
        if info.name:
            metadata["name"] = info.name
        validation = request.query.get("fieldValidation", "Warn")
        if validation not in ("Strict", "Warn", "Ignore"):
            raise BadRequest(f"fieldValidation must be one of Strict, Warn, Ignore, not {validation!r}")
        unknown = prune_unknown(body, dict(kind.schema))
        if unknown and validation == "Strict":
            detail = ", ".join(f'unknown field "{f}"' for f in unknown)
            raise BadRequest(
                f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                f"strict decoding error: {detail}"
            )
        warnings = [f'unknown field "{f}"' for f in unknown] if validation == "Warn" else []
        return body, warnings

    def _dry_run(self, request: Request) -> bool:
        value = request.query.get("dryRun", "")
        if value not in ("", "All"):
            raise BadRequest(f"dryRun must be All, not {value!r}")
        return value == "All"

    def _kind_for(self, kind: Kind, verb: str, subresource: str) -> None:
        if subresource and subresource not in kind.subresources:
            raise NotFound(f'the server could not find the requested resource ({kind.plural}/{subresource})')
        if verb not in kind.verbs and not subresource:
            if verb in kind.refused_actions:
                raise method_not_supported(kind.resource, kind.refused_actions[verb])
            raise MethodNotAllowed(f"{kind.refusal} ({verb} {kind.plural})")

    # ---- verbs ---------------------------------------------------------------------------

    async def get(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "get", info.subresource)
        accept = self._accept(request)
        body = self._out(kind, await self._store.get(kind.resource, info.namespace, info.name))
        if accept.table:
            body = table(kind, [body], {"resourceVersion": body["metadata"].get("resourceVersion", "")},
                         request.query.get("includeObject", "Metadata"))
        await self._reply(send, 200, body, accept)

    async def list(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "list", "")
        accept = self._accept(request)
        if not (accept.table or accept.yaml or kind.conversion is not None):
            await self._list_json(kind, info, request, send)
            return
        page = await self._store.list(self._list_query(kind, info, request))
        items = [self._out(kind, item) for item in page.items]
        metadata = _list_metadata(page.resource_version, page.continue_token, page.remaining)
        if accept.table:
            body = table(kind, items, metadata, request.query.get("includeObject", "Metadata"))
        else:
            body = {"apiVersion": kind.api_version, "kind": kind.list_kind, "metadata": metadata, "items": items}
        await self._reply(send, 200, body, accept)

    async def _list_json(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        """A JSON list whose items are the stored objects' JSON texts, joined as they are.

        The store keeps each object as JSON; decoding thousands of them only to encode them
        again was most of a large list's cost. The answer is byte-for-byte a valid list of the
        same objects (a stored text may escape non-ASCII characters where encode_json would not).
        """
        page = await self._store.list_encoded(self._list_query(kind, info, request))
        head = encode_json({"apiVersion": kind.api_version, "kind": kind.list_kind,
                            "metadata": _list_metadata(page.resource_version, page.continue_token, page.remaining)})
        body = b"".join((head[:-1], b',"items":[', ",".join(page.items).encode(), b"]}"))
        await send_bytes(send, 200, body, "application/json", [])

    async def watch(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "watch", "")
        accept = self._accept(request)
        listed = self._list_query(kind, info, request)
        query = ListQuery(listed.resource, listed.namespace, listed.labels, listed.fields)

        def matches(body: Body) -> bool:
            metadata = body.get("metadata") or {}
            return query.labels.matches(metadata.get("labels")) and all(f.matches(body) for f in query.fields)

        since = _query_count(request, "resourceVersion", "a resourceVersion this server issued") or None
        timeout_s = _query_count(request, "timeoutSeconds", "the seconds the watch may last")
        timeout = float(timeout_s) if timeout_s is not None else self._settings.default_watch_timeout_s
        bookmarks = request.query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        initial = request.query.get("sendInitialEvents", "").lower() in ("1", "true")
        await stream_watch(self._store, WatchRequest(
            kind=kind, namespace=info.namespace, list_query=query, matches=matches, since=since,
            timeout_s=timeout, bookmarks=bookmarks, bookmark_interval_s=self._settings.bookmark_interval_s,
            as_table=accept.table, include_object=request.query.get("includeObject", "Metadata"),
            initial_events_end=initial and bookmarks and since is None,
            convert=kind.conversion.from_storage if kind.conversion is not None else None,
        ), send, self._watch_stop)

    async def create(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "create", info.subresource)
        if info.name:
            raise MethodNotAllowed("POST goes to the collection, not to a named object; use PUT to replace it")
        accept = self._accept(request)
        body, warnings = await self._decode_object(kind, info, request)
        created = await self._engine.create(self._stored(kind), self._in(kind, body), user=request.user,
                                            dry_run=self._dry_run(request))
        await self._reply(send, 201, self._out(kind, created), accept, warnings)

    async def update(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "update", info.subresource)
        accept = self._accept(request)
        body, warnings = await self._decode_object(kind, info, request)
        updated = await self._engine.update(self._stored(kind), self._in(kind, body), subresource=info.subresource,
                                            user=request.user, dry_run=self._dry_run(request))
        await self._reply(send, 200, self._out(kind, updated), accept, warnings)

    async def patch(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "patch", info.subresource)
        accept = self._accept(request)
        content_type = media_type(request.headers.get("content-type"))
        raw = await request.body(self._settings.max_body_bytes)
        if content_type == "application/apply-patch+yaml":
            await self._server_side_apply(kind, info, request, send, raw, accept)
            return
        if content_type not in PATCH_TYPES:
            apply_patch({}, {}, content_type)  # raises UnsupportedMediaType naming the accepted types
        patch = decode_body(raw, content_type)
        for attempt in range(1, PATCH_ATTEMPTS + 1):
            current = await self._store.get(kind.resource, info.namespace, info.name)
            patched = apply_patch(copy.deepcopy(self._out(kind, current)), patch, content_type)
            patched_metadata = patched.get("metadata")
            # A patch may have turned metadata into anything; _check_object refuses a non-object.
            patched_rv = patched_metadata.get("resourceVersion") if isinstance(patched_metadata, dict) else None
            body, warnings = self._check_object(kind, info, request, patched)
            if patched_rv is None:
                body["metadata"].pop("resourceVersion", None)
            try:
                updated = await self._engine.update(self._stored(kind), self._in(kind, body),
                                                    subresource=info.subresource, user=request.user,
                                                    dry_run=self._dry_run(request), current=current)
                break
            except Conflict:
                # A patch that names no resourceVersion of its own (the patched object keeps the one
                # read) applies to whatever the object is now, as a kube-apiserver applies it: when
                # another writer got in between, read and patch again.
                pinned = patched_rv not in (None, current["metadata"]["resourceVersion"])
                if pinned or attempt == PATCH_ATTEMPTS:
                    raise
        await self._reply(send, 200, self._out(kind, updated), accept, warnings)

    async def _server_side_apply(self, kind: Kind, info: RequestInfo, request: Request, send: Send,
                                 raw: bytes, accept: Accept) -> None:
        """Server-side apply, simplified: create if absent, else merge the applied fields in.

        Field ownership (managedFields) is not tracked: a later apply never removes
        fields an earlier apply set. Conflicts between managers are not reported.
        """
        if not request.query.get("fieldManager"):
            raise BadRequest("PATCH with application/apply-patch+yaml requires the fieldManager query parameter")
        applied = decode_body(raw, "application/apply-patch+yaml")
        if not isinstance(applied, dict):
            raise BadRequest(f"the applied configuration must be a {kind.kind} object")
        applied, warnings = self._check_object(kind, info, request, applied)
        applied["metadata"].pop("resourceVersion", None)
        dry_run = self._dry_run(request)
        try:
            current = await self._store.get(kind.resource, info.namespace, info.name)
        except NotFound:
            created = await self._engine.create(self._stored(kind), self._in(kind, applied), user=request.user,
                                                dry_run=dry_run)
            await self._reply(send, 201, self._out(kind, created), accept, warnings)
            return
        for attempt in range(1, PATCH_ATTEMPTS + 1):
            merged = json_merge_patch(self._out(kind, current), applied)
            merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                updated = await self._engine.update(self._stored(kind), self._in(kind, merged),
                                                    subresource=info.subresource, user=request.user, dry_run=dry_run,
                                                    current=current)
                break
            except Conflict:
                if attempt == PATCH_ATTEMPTS:
                    raise
                current = await self._store.get(kind.resource, info.namespace, info.name)
        await self._reply(send, 200, self._out(kind, updated), accept, warnings)

    async def delete(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "delete", info.subresource)
        accept = self._accept(request)
        expect_rv, expect_uid = request.query.get("preconditions.resourceVersion"), request.query.get("preconditions.uid")
        raw = await request.body(self._settings.max_body_bytes)
        options = decode_body(raw, request.headers.get("content-type")) if raw.strip() else None
        preconditions = _delete_options(options)
        expect_rv = preconditions.get("resourceVersion") or expect_rv
        expect_uid = preconditions.get("uid") or expect_uid
        if options and options.get("dryRun"):
            request.query["dryRun"] = "All"
        deleted = await self._engine.delete(self._stored(kind), info.namespace, info.name, user=request.user,
                                            expect_rv=expect_rv, expect_uid=expect_uid, dry_run=self._dry_run(request))
        pending = bool(deleted["metadata"].get("deletionTimestamp")) and bool(deleted["metadata"].get("finalizers"))
        if kind.group == "" and not pending:
            body = success_status(info.name, kind.group, kind.plural, deleted["metadata"].get("uid", ""))
            await self._reply(send, 200, body, accept)
            return
        await self._reply(send, 200, self._out(kind, deleted), accept)

    async def delete_collection(self, kind: Kind, info: RequestInfo, request: Request, send: Send) -> None:
        self._kind_for(kind, "deletecollection", "")
        accept = self._accept(request)
        page = await self._store.list(self._list_query(kind, info, request))
        dry_run = self._dry_run(request)
        deleted = []
        for item in page.items:
            metadata = item["metadata"]
            try:
                deleted.append(self._out(kind, await self._engine.delete(
                    self._stored(kind), metadata.get("namespace", ""), metadata["name"], user=request.user,
                    dry_run=dry_run)))
            except NotFound:
                continue
        body = {"apiVersion": kind.api_version, "kind": kind.list_kind,
                "metadata": {"resourceVersion": str(await self._store.resource_version())}, "items": deleted}
        await self._reply(send, 200, body, accept)

