"""Field selectors on the Porch kinds answer as Porch's API server does (fieldselector.go).

Unknown fields, operators other than equality, empty values and unknown lifecycles are
400 BadRequest with Porch's messages, on list and on watch; ``spec.revision`` reads as
Porch reads it (``v1`` is 1, a Draft's or a Proposed revision's absent revision is 0, a
word is the placeholder's -1), in the store's query and in the watch filter alike. On
PackageRevisionResources, which carry neither a lifecycle nor package metadata, those
fields select through the PackageRevision of the same name, as Porch filters them. Every
test runs on both stores.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from tests.engine.conftest import Porch, porch
from tests.parts.git_server import git_server, package_files
from tests.parts.server import RunningServer, kubectl

__all__ = ["git_server", "porch"]

PORCH = "/apis/porch.kpt.dev/v1alpha1"
REVISIONS = f"{PORCH}/namespaces/default/packagerevisions"
RESOURCES = f"{PORCH}/namespaces/default/packagerevisionresources"
PACKAGES = f"{PORCH}/namespaces/default/packages"


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


def names(body: dict[str, Any]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in body["items"])


async def listed(http: httpx.AsyncClient, url: str, selector: str) -> list[str]:
    response = await http.get(url, params={"fieldSelector": selector})
    assert response.status_code == 200, response.text
    return names(response.json())


async def refusal(http: httpx.AsyncClient, url: str, selector: str, **params: str) -> str:
    response = await http.get(url, params={"fieldSelector": selector, **params})
    assert response.status_code == 400, f"{selector}: {response.text}"
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400), body
    return str(body["message"])


REVISION_REFUSALS = [
    ("spec.lifecycle=Bogus", 'unsupported fieldSelector value "Bogus" for field "spec.lifecycle"'),
    ("spec.lifecycle=draft", 'unsupported fieldSelector value "draft" for field "spec.lifecycle"'),
    ("spec.lifecycle!=Draft", 'unsupported fieldSelector operator "!=" for field "spec.lifecycle"'),
    ("metadata.name!=x", 'unsupported fieldSelector operator "!=" for field "metadata.name"'),
    ("spec.repository=", 'unsupported fieldSelector value "" for field "spec.repository" with operator "="'),
    ("spec.revision==", 'unsupported fieldSelector value "" for field "spec.revision" with operator "="'),
    ("metadata.nonesuch=foo", '"metadata.nonesuch" is not a known field selector'),
    ("status.publishedBy=x", '"status.publishedBy" is not a known field selector'),
    ("spec.packageMetadata.labels[]=x",
     'label key cannot be empty in field selector "spec.packageMetadata.labels[]"'),
    # Porch converts every field name before it looks at any operator or value.
    ("spec.lifecycle=Bogus,metadata.nonesuch=foo", '"metadata.nonesuch" is not a known field selector'),
    # Terms are checked in sorted order, as apimachinery sorts them.
    ("spec.revision=,spec.lifecycle=Bogus", 'unsupported fieldSelector value "Bogus" for field "spec.lifecycle"'),
    ("metadata.namespace=other", 'conflicting namespaces specified: "default" and "other"'),
]


@pytest.mark.parametrize("url", [REVISIONS, RESOURCES])
async def test_revision_selectors_porch_refuses_are_bad_requests_with_its_messages(
    admin: httpx.AsyncClient, url: str
) -> None:
    for selector, message in REVISION_REFUSALS:
        assert await refusal(admin, url, selector) == message, selector


async def test_a_watch_is_refused_as_the_list_is(admin: httpx.AsyncClient) -> None:
    message = await refusal(admin, REVISIONS, "spec.lifecycle=Bogus", watch="true")
    assert message == 'unsupported fieldSelector value "Bogus" for field "spec.lifecycle"'


async def test_package_selectors_porch_refuses_are_bad_requests_with_its_messages(admin: httpx.AsyncClient) -> None:
    for selector, message in [
        ("spec.lifecycle=Draft", '"spec.lifecycle" is not a known field selector'),
        ("spec.revision=1", '"spec.revision" is not a known field selector'),
        ("spec.repository!=x", 'unsupported fieldSelector operator "!=" for field "spec.repository"'),
        ("spec.packageName=", 'unsupported fieldSelector value "" for field "spec.packageName" with operator "="'),
        ("metadata.namespace=other", 'conflicting namespaces specified: "default" and "other"'),
    ]:
        assert await refusal(admin, PACKAGES, selector) == message, selector


async def test_selectors_porch_accepts_are_answered_on_an_empty_store(admin: httpx.AsyncClient) -> None:
    for url, selector in [
        (REVISIONS, "spec.lifecycle=DeletionProposed"),
        (REVISIONS, "spec.lifecycle==Published,metadata.namespace=default"),
        (REVISIONS, "spec.packageMetadata.labels[team]=blue"),
        (RESOURCES, "spec.revision=v3"),
        (PACKAGES, "spec.repository=sel,spec.packageName=a"),
        (f"{PORCH}/packagerevisions", "metadata.namespace=other"),
    ]:
        assert await listed(admin, url, selector) == [], (url, selector)


async def catalog(porch: Porch) -> None:
    """sel: a and b published as v1 (with their branch placeholders), c a Draft, d Proposed."""
    porch.git.create_repo("sel").commit({**package_files("a"), **package_files("b")}, tags=["a/v1", "b/v1"])
    await porch.register("sel")
    await porch.init("sel", "c", "draft")
    await porch.set_lifecycle(await porch.init("sel", "d", "prop"), "Proposed")


async def test_revision_zero_selects_drafts_and_proposed_revisions(porch: Porch) -> None:
    await catalog(porch)
    http = porch.http
    assert await listed(http, REVISIONS, "spec.revision=0") == ["sel.c.draft", "sel.d.prop"]
    assert await listed(http, REVISIONS, "spec.revision=0,spec.lifecycle=Proposed") == ["sel.d.prop"]
    assert await listed(http, REVISIONS, "spec.revision=1") == ["sel.a.v1", "sel.b.v1"]
    assert await listed(http, REVISIONS, "spec.revision=v1") == ["sel.a.v1", "sel.b.v1"]
    assert await listed(http, REVISIONS, "spec.revision=01") == ["sel.a.v1", "sel.b.v1"]
    assert await listed(http, REVISIONS, "spec.revision=-1") == ["sel.a.main", "sel.b.main"]
    assert await listed(http, REVISIONS, "spec.revision=main") == ["sel.a.main", "sel.b.main"]
    assert await listed(http, REVISIONS, "spec.lifecycle=Draft") == ["sel.c.draft"]
    assert await listed(http, RESOURCES, "spec.revision=0") == ["sel.c.draft", "sel.d.prop"]
    assert await listed(http, RESOURCES, "spec.revision=v1") == ["sel.a.v1", "sel.b.v1"]
    assert await listed(http, PACKAGES, "spec.packageName=c") == ["sel.c"]


async def test_a_watch_on_revision_zero_sees_drafts_only(porch: Porch) -> None:
    await catalog(porch)
    events: list[dict[str, Any]] = []
    with trio.fail_after(30):
        async with porch.http.stream("GET", REVISIONS, params={"watch": "true", "fieldSelector": "spec.revision=0"}) \
                as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            while len(events) < 2:
                line = await lines.__anext__()
                if line.strip():
                    events.append(json.loads(line))
            await porch.init("sel", "e", "next")
            async for line in lines:
                if line.strip():
                    events.append(json.loads(line))
                    if events[-1]["object"]["metadata"]["name"] == "sel.e.next":
                        break
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "sel.c.draft"), ("ADDED", "sel.d.prop"), ("ADDED", "sel.e.next")]


async def test_resources_select_by_their_revision_lifecycle_and_package_labels(porch: Porch) -> None:
    await catalog(porch)
    await porch.init("sel", "e", "labelled", packageMetadata={"labels": {"team": "blue"}})
    http = porch.http
    published = await listed(http, REVISIONS, "spec.lifecycle=Published")
    assert published == ["sel.a.main", "sel.a.v1", "sel.b.main", "sel.b.v1"]
    assert await listed(http, RESOURCES, "spec.lifecycle=Published") == published
    assert await listed(http, RESOURCES, "spec.lifecycle=Draft") == ["sel.c.draft", "sel.e.labelled"]
    assert await listed(http, RESOURCES, "spec.lifecycle=Proposed,spec.packageName=d") == ["sel.d.prop"]
    assert await listed(http, RESOURCES, "spec.lifecycle=DeletionProposed") == []
    assert await listed(http, RESOURCES, "spec.packageMetadata.labels[team]=blue") == ["sel.e.labelled"]
    assert await listed(http, RESOURCES, "spec.packageMetadata.labels[team]=red") == []
    first = await http.get(RESOURCES, params={"fieldSelector": "spec.lifecycle=Published", "limit": "3"})
    page = first.json()
    rest = await http.get(RESOURCES, params={"fieldSelector": "spec.lifecycle=Published",
                                             "continue": page["metadata"]["continue"]})
    assert names(page) + names(rest.json()) == published
    assert page["metadata"]["remainingItemCount"] == 1
    shown = await kubectl(porch.server, "get", "packagerevisionresources", "-n", "default",
                          "--field-selector", "spec.lifecycle=Published", "-o", "name")
    assert shown.stdout.decode().split() == [f"packagerevisionresources.porch.kpt.dev/{name}" for name in published]
