"""The Store contract: every implementation passes these through the ``store`` fixture."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio
from cryptography.fernet import Fernet

from porch_embedded.errors import AlreadyExists, BadRequest, Conflict, Expired, NotFound, StoreUnavailable
from porch_embedded.kinds import package_key, upstream_key
from porch_embedded.meta import LabelSelector
from porch_embedded.store import (
    Create,
    Delete,
    FieldMatch,
    ListQuery,
    Store,
    Update,
    WatchEvent,
    WatchQuery,
)

StoreOpener = Callable[..., AbstractAsyncContextManager[Store]]  # the open_test_store fixture

REPOS = "repositories.config.porch.kpt.dev"
REVS = "packagerevisions.porch.kpt.dev"
SECRETS = "secrets"
HANG_GUARD_S = 20  # a deadline against hangs, not a timing assertion


def obj(name: str, namespace: str = "default", labels: dict[str, str] | None = None,
        **top: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": metadata, **top}


def rv_of(body: dict[str, Any]) -> str:
    return str(body["metadata"]["resourceVersion"])


async def take(events: AsyncIterator[WatchEvent], count: int) -> list[WatchEvent]:
    got: list[WatchEvent] = []
    with trio.fail_after(HANG_GUARD_S):
        async for event in events:
            got.append(event)
            if len(got) == count:
                break
    return got


# -- create / get / update / delete -------------------------------------------------------


async def test_create_stamps_resource_version_and_get_returns_it(store: Store) -> None:
    body = obj("blueprints", spec={"type": "git", "git": {"repo": "https://x"}})
    created = await store.create(REPOS, body)
    assert "resourceVersion" not in body["metadata"], "the caller's dict is not mutated"
    assert int(rv_of(created)) == await store.resource_version()
    assert created["spec"] == body["spec"]
    assert await store.get(REPOS, "default", "blueprints") == created


async def test_unknown_fields_survive_a_round_trip(store: Store) -> None:
    body = obj("odd", x={"nested": [1, 2.5, True, None, {"k": "v"}]}, status={"ünïcode": "✓"})
    await store.create(REPOS, body)
    got = await store.get(REPOS, "default", "odd")
    assert got["x"] == body["x"] and got["status"] == body["status"]


async def test_create_twice_is_already_exists(store: Store) -> None:
    await store.create(REPOS, obj("blueprints"))
    with pytest.raises(AlreadyExists) as caught:
        await store.create(REPOS, obj("blueprints"))
    assert caught.value.message == f'{REPOS} "blueprints" already exists'
    assert caught.value.details == {"name": "blueprints", "group": "config.porch.kpt.dev",
                                    "kind": "repositories"}


async def test_same_name_in_other_namespace_or_resource_is_another_object(store: Store) -> None:
    await store.create(REPOS, obj("a", "one"))
    await store.create(REPOS, obj("a", "two"))
    await store.create(REVS, obj("a", "one"))
    await store.create(SECRETS, obj("a", ""))
    assert (await store.get(REPOS, "two", "a"))["metadata"]["namespace"] == "two"
    assert (await store.get(SECRETS, "", "a"))["metadata"]["name"] == "a"


async def test_get_missing_is_not_found_with_kubernetes_message(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        await store.get(REPOS, "default", "nope")
    assert caught.value.message == f'{REPOS} "nope" not found'
    assert caught.value.details["group"] == "config.porch.kpt.dev"
    with pytest.raises(NotFound) as core:
        await store.get(SECRETS, "default", "nope")
    assert core.value.message == 'secrets "nope" not found'
    assert core.value.details == {"name": "nope", "group": "", "kind": "secrets"}


async def test_update_with_current_rv_takes_a_newer_rv(store: Store) -> None:
    created = await store.create(REPOS, obj("r", spec={"n": 1}))
    changed = dict(created, spec={"n": 2})
    updated = await store.update(REPOS, changed, expect_rv=rv_of(created))
    assert int(rv_of(updated)) > int(rv_of(created))
    assert (await store.get(REPOS, "default", "r"))["spec"] == {"n": 2}


async def test_update_with_stale_rv_is_conflict(store: Store) -> None:
    created = await store.create(REPOS, obj("r"))
    await store.update(REPOS, created, expect_rv=rv_of(created))
    with pytest.raises(Conflict) as caught:
        await store.update(REPOS, created, expect_rv=rv_of(created))
    assert caught.value.message == (
        f'Operation cannot be fulfilled on {REPOS} "r": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert caught.value.details["name"] == "r"


async def test_update_missing_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update(REPOS, obj("ghost"), expect_rv="1")


async def test_delete_returns_last_body_stamped_with_its_event_rv(store: Store) -> None:
    created = await store.create(REPOS, obj("r", spec={"keep": "me"}))
    deleted = await store.delete(REPOS, "default", "r")
    assert deleted["spec"] == {"keep": "me"}
    assert int(rv_of(deleted)) > int(rv_of(created))
    assert int(rv_of(deleted)) == await store.resource_version()
    with pytest.raises(NotFound):
        await store.get(REPOS, "default", "r")
    with pytest.raises(NotFound):
        await store.delete(REPOS, "default", "r")


async def test_delete_with_wrong_uid_is_precondition_conflict(store: Store) -> None:
    await store.create(REPOS, obj("r"))
    with pytest.raises(Conflict) as caught:
        await store.delete(REPOS, "default", "r", expect_uid="other-uid")
    assert caught.value.message == (
        f'Operation cannot be fulfilled on {REPOS} "r": Precondition failed: '
        "UID in precondition: other-uid, UID in object meta: uid-r"
    )
    await store.delete(REPOS, "default", "r", expect_uid="uid-r")


async def test_delete_with_stale_rv_is_conflict(store: Store) -> None:
    created = await store.create(REPOS, obj("r"))
    updated = await store.update(REPOS, created, expect_rv=rv_of(created))
    with pytest.raises(Conflict) as caught:
        await store.delete(REPOS, "default", "r", expect_rv=rv_of(created))
    assert "Precondition failed: ResourceVersion in precondition" in caught.value.message
    await store.delete(REPOS, "default", "r", expect_rv=rv_of(updated))


async def test_every_write_takes_the_next_counter_value(store: Store) -> None:
    seen = [await store.resource_version()]
    body = await store.create(REPOS, obj("r"))
    seen.append(int(rv_of(body)))
    for _ in range(3):
        body = await store.update(REPOS, body, expect_rv=rv_of(body))
        seen.append(int(rv_of(body)))
    seen.append(int(rv_of(await store.delete(REPOS, "default", "r"))))
    assert seen == sorted(set(seen)), "strictly increasing"
    assert seen[-1] == await store.resource_version()


async def test_body_without_name_is_bad_request(store: Store) -> None:
    with pytest.raises(BadRequest):
        await store.create(REPOS, {"metadata": {"namespace": "default"}})


# -- apply ----------------------------------------------------------------------------


async def test_apply_runs_changes_in_order_each_with_its_own_rv(store: Store) -> None:
    first = await store.apply([Create(REPOS, obj("a")), Create(REPOS, obj("b"))])
    assert int(rv_of(first[0])) < int(rv_of(first[1]))
    second = await store.apply([
        Update(REPOS, obj("a", spec={"n": 2}), expect_rv=rv_of(first[0])),
        Delete(REPOS, "default", "b", expect_rv=rv_of(first[1])),
    ])
    assert second[0]["spec"] == {"n": 2}
    assert int(rv_of(first[1])) < int(rv_of(second[0])) < int(rv_of(second[1]))
    assert [item["metadata"]["name"] for item in (await store.list(ListQuery(REPOS))).items] == ["a"]


async def test_apply_is_all_or_nothing_and_emits_no_events_on_failure(store: Store) -> None:
    await store.create(REPOS, obj("existing"))
    before = await store.resource_version()
    async with store.watch(WatchQuery(REPOS, since=before)) as events:
        with pytest.raises(NotFound):
            await store.apply([
                Create(REPOS, obj("first")),
                Update(REPOS, obj("existing", spec={"x": 1}), expect_rv=str(before)),
                Update(REPOS, obj("missing"), expect_rv="1"),
                Create(REPOS, obj("last")),
            ])
        with pytest.raises(AlreadyExists):
            await store.apply([Create(REPOS, obj("other")), Create(REPOS, obj("existing"))])
        assert await store.resource_version() == before
        for name in ("first", "missing", "last", "other"):
            with pytest.raises(NotFound):
                await store.get(REPOS, "default", name)
        assert "spec" not in await store.get(REPOS, "default", "existing")
        marker = await store.create(REPOS, obj("marker"))
        [event] = await take(events, 1)
    assert event.object["metadata"]["name"] == "marker", "no event of the failed applies"
    assert event.resource_version == int(rv_of(marker))


async def test_apply_of_nothing_changes_nothing(store: Store) -> None:
    before = await store.resource_version()
    assert await store.apply([]) == []
    assert await store.resource_version() == before


# -- list and selectors ---------------------------------------------------------------


async def _names(store: Store, **query: Any) -> list[str]:
    page = await store.list(ListQuery(REPOS, **query))
    return [item["metadata"]["name"] for item in page.items]


@pytest.fixture
async def labelled(store: Store) -> Store:
    await store.apply([
        Create(REPOS, obj("a", labels={"env": "prod", "tier": "web", "replicas": "3"},
                          spec={"replicas": 3, "enabled": True, "deep": {"path": {"leaf": "x"}}})),
        Create(REPOS, obj("b", labels={"env": "dev", "tier": "web", "replicas": "10"},
                          spec={"replicas": 10, "enabled": False, "deep": {"path": {"leaf": "y"}}})),
        Create(REPOS, obj("c", labels={"env": "test", "app.kubernetes.io/name": "porch"},
                          spec={"ratio": 1.5})),
        Create(REPOS, obj("d")),
        Create(REPOS, obj("e", "other", labels={"env": "prod"})),
    ])
    return store


LABEL_CASES = [
    ("env=prod", ["a", "e"]),
    ("env==prod", ["a", "e"]),
    ("env!=prod", ["b", "c", "d"]),
    ("env in (dev,test)", ["b", "c"]),
    ("env notin (dev,test)", ["a", "d", "e"]),
    ("tier", ["a", "b"]),
    ("!tier", ["c", "d", "e"]),
    ("env=prod,tier=web", ["a"]),
    ("app.kubernetes.io/name=porch", ["c"]),
    ("replicas>5", ["b"]),
    ("replicas<5", ["a"]),
    ("env in (prod),!tier", ["e"]),
    ("nothing=here", []),
]


@pytest.mark.parametrize(("selector", "expected"), LABEL_CASES)
async def test_label_selectors_filter_in_the_database(
    labelled: Store, selector: str, expected: list[str]
) -> None:
    parsed = LabelSelector.parse(selector)
    assert await _names(labelled, labels=parsed) == expected
    every = (await labelled.list(ListQuery(REPOS))).items
    python = [item["metadata"]["name"] for item in every
              if parsed.matches(item["metadata"].get("labels"))]
    assert python == expected, "the SQL and the Python matcher agree"


FIELD_CASES = [
    ([FieldMatch(("metadata", "name"), "=", "b")], ["b"]),
    ([FieldMatch(("metadata", "name"), "!=", "b")], ["a", "c", "d", "e"]),
    ([FieldMatch(("metadata", "namespace"), "=", "other")], ["e"]),
    ([FieldMatch(("spec", "deep", "path", "leaf"), "=", "y")], ["b"]),
    ([FieldMatch(("spec", "replicas"), "=", "3")], ["a"]),
    ([FieldMatch(("spec", "replicas"), "!=", "3")], ["b", "c", "d", "e"]),
    ([FieldMatch(("spec", "enabled"), "=", "true")], ["a"]),
    ([FieldMatch(("spec", "enabled"), "=", "false")], ["b"]),
    ([FieldMatch(("spec", "ratio"), "=", "1.5")], ["c"]),
    ([FieldMatch(("spec", "missing"), "=", "")], ["a", "b", "c", "d", "e"]),
    ([FieldMatch(("metadata", "labels", "app.kubernetes.io/name"), "=", "porch")], ["c"]),
    ([FieldMatch(("metadata", "name"), "!=", "a"), FieldMatch(("spec", "replicas"), "!=", "10")],
     ["c", "d", "e"]),
    ([FieldMatch(("spec", "replicas"), "=", "0", missing="0")], ["c", "d", "e"]),
    ([FieldMatch(("spec", "replicas"), "!=", "0", missing="0")], ["a", "b"]),
    ([FieldMatch(("spec", "replicas"), "=", "3", missing="0")], ["a"]),
    ([FieldMatch(("spec", "deep"), "=", "", missing="none")], []),
]


@pytest.mark.parametrize(("fields", "expected"), FIELD_CASES)
async def test_field_selectors_filter_in_the_database(
    labelled: Store, fields: list[FieldMatch], expected: list[str]
) -> None:
    assert await _names(labelled, fields=tuple(fields)) == expected
    every = (await labelled.list(ListQuery(REPOS))).items
    python = [item["metadata"]["name"] for item in every if all(f.matches(item) for f in fields)]
    assert python == expected, "the SQL and meta.FieldMatch's rule agree"


async def test_a_twin_field_is_read_from_the_same_named_object_of_the_twin_resource(labelled: Store) -> None:
    """a's and e's twins are Published, b's is a Draft, c has a twin elsewhere only, d none."""
    await labelled.apply([
        Create(REVS, obj("a", spec={"lifecycle": "Published"})),
        Create(REVS, obj("b", spec={"lifecycle": "Draft", "packageMetadata": {"labels": {"team": "blue"}}})),
        Create(REVS, obj("c", "other", spec={"lifecycle": "Published"})),
        Create(REVS, obj("e", "other", spec={"lifecycle": "Published"})),
    ])
    published = FieldMatch(("spec", "lifecycle"), "=", "Published", twin=REVS)
    assert await _names(labelled, fields=(published,)) == ["a", "e"]
    assert await _names(labelled, namespace="default", fields=(published,)) == ["a"]
    assert await _names(labelled, fields=(FieldMatch(("spec", "lifecycle"), "!=", "Published", twin=REVS),)) == ["b"]
    blue = FieldMatch(("spec", "packageMetadata", "labels", "team"), "=", "blue", twin=REVS)
    assert await _names(labelled, fields=(blue, FieldMatch(("spec", "enabled"), "=", "false"))) == ["b"]
    assert await _names(labelled, labels=LabelSelector.parse("env=prod"), fields=(published,)) == ["a", "e"]
    with pytest.raises(ValueError):
        published.matches(obj("a"))


async def test_list_by_namespace_and_across_namespaces(labelled: Store) -> None:
    assert await _names(labelled, namespace="other") == ["e"]
    assert await _names(labelled, namespace="default") == ["a", "b", "c", "d"]
    assert await _names(labelled) == ["a", "b", "c", "d", "e"], "ordered by (namespace, name)"
    assert await _names(labelled, namespace="nowhere") == []


async def test_list_and_selectors_combine(labelled: Store) -> None:
    names = await _names(labelled, namespace="default", labels=LabelSelector.parse("env"),
                         fields=(FieldMatch(("spec", "enabled"), "!=", "true"),))
    assert names == ["b", "c"]


async def test_list_reports_the_current_resource_version(labelled: Store) -> None:
    page = await labelled.list(ListQuery(REPOS))
    assert page.resource_version == await labelled.resource_version()
    assert page.continue_token == ""


# -- pagination -----------------------------------------------------------------------


async def test_pages_cover_everything_once_with_remaining_counts(store: Store) -> None:
    names = [f"r{i:02}" for i in range(7)]
    await store.apply([Create(REPOS, obj(name)) for name in reversed(names)])
    first = await store.list(ListQuery(REPOS, limit=3))
    assert [i["metadata"]["name"] for i in first.items] == names[:3]
    assert first.remaining == 4 and first.continue_token
    await store.create(REPOS, obj("r99"))  # written between pages: the list rv stays
    second = await store.list(ListQuery(REPOS, limit=3, continue_token=first.continue_token))
    assert [i["metadata"]["name"] for i in second.items] == names[3:6]
    assert second.remaining == 2  # r06 and the new r99
    assert second.resource_version == first.resource_version
    third = await store.list(ListQuery(REPOS, limit=3, continue_token=second.continue_token))
    assert [i["metadata"]["name"] for i in third.items] == ["r06", "r99"]
    assert third.continue_token == "" and not third.remaining
    assert third.resource_version == first.resource_version


async def test_pages_within_a_namespace_cover_it_once_with_remaining_counts(labelled: Store) -> None:
    seen, remaining, token = [], [], ""
    for _ in range(10):
        page = await labelled.list(ListQuery(REPOS, namespace="default", limit=1, continue_token=token))
        seen += [item["metadata"]["name"] for item in page.items]
        remaining.append(page.remaining)
        token = page.continue_token
        if not token:
            break
    assert seen == ["a", "b", "c", "d"] and remaining[:3] == [3, 2, 1]
    # A token from a list of every namespace goes on after its (namespace, name) in another.
    across = await labelled.list(ListQuery(REPOS, limit=4))
    assert across.items[-1]["metadata"]["name"] == "d"
    after = await labelled.list(ListQuery(REPOS, namespace="other", limit=4, continue_token=across.continue_token))
    assert [item["metadata"]["name"] for item in after.items] == ["e"]
    before = await labelled.list(ListQuery(REPOS, namespace="default", limit=4,
                                           continue_token=across.continue_token))
    assert before.items == []


async def test_paging_with_a_selector_counts_only_matches(labelled: Store) -> None:
    query = ListQuery(REPOS, labels=LabelSelector.parse("env"), limit=2)
    first = await labelled.list(query)
    assert [i["metadata"]["name"] for i in first.items] == ["a", "b"] and first.remaining == 2
    second = await labelled.list(ListQuery(REPOS, labels=query.labels, limit=2,
                                           continue_token=first.continue_token))
    assert [i["metadata"]["name"] for i in second.items] == ["c", "e"]
    assert second.continue_token == ""


async def test_an_encoded_list_is_the_list_as_json_texts_page_for_page(labelled: Store) -> None:
    await labelled.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
                                    "data": {"password": "c2VjcmV0"}, "stringData": {"token": "t\u00e9"}})
    for query in (ListQuery(REPOS), ListQuery(REPOS, namespace="default", labels=LabelSelector.parse("env")),
                  ListQuery(SECRETS)):
        plain, encoded = await labelled.list(query), await labelled.list_encoded(query)
        assert [json.loads(text) for text in encoded.items] == plain.items, "sealed fields opened, as list does"
        assert encoded.resource_version == plain.resource_version and encoded.continue_token == ""
    token, seen = "", []
    while True:
        query = ListQuery(REPOS, limit=2, continue_token=token)
        plain, encoded = await labelled.list(query), await labelled.list_encoded(query)
        assert [json.loads(text) for text in encoded.items] == plain.items
        assert (encoded.continue_token, encoded.remaining) == (plain.continue_token, plain.remaining)
        seen += [item["metadata"]["name"] for item in plain.items]
        token = encoded.continue_token
        if not token:
            break
    assert seen == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "W10", "eyJ2IjoxfQ"])
async def test_malformed_continue_token_is_bad_request(store: Store, token: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await store.list(ListQuery(REPOS, limit=1, continue_token=token))
    assert "continue" in caught.value.message


async def test_continue_token_of_another_resource_is_bad_request(store: Store) -> None:
    await store.apply([Create(REPOS, obj("a")), Create(REPOS, obj("b"))])
    page = await store.list(ListQuery(REPOS, limit=1))
    with pytest.raises(BadRequest):
        await store.list(ListQuery(REVS, limit=1, continue_token=page.continue_token))


# -- watch ----------------------------------------------------------------------------


async def test_watch_delivers_changes_in_order_with_types(store: Store) -> None:
    start = await store.resource_version()
    async with store.watch(WatchQuery(REPOS, since=start)) as events:
        created = await store.create(REPOS, obj("r"))
        await store.create(REVS, obj("not-mine"))
        updated = await store.update(REPOS, dict(created, spec={"n": 1}), expect_rv=rv_of(created))
        deleted = await store.delete(REPOS, "default", "r")
        got = await take(events, 3)
    assert [(e.type, e.resource_version) for e in got] == [
        ("ADDED", int(rv_of(created))),
        ("MODIFIED", int(rv_of(updated))),
        ("DELETED", int(rv_of(deleted))),
    ]
    assert got[1].object == updated and got[2].object == deleted


async def test_watch_filters_by_namespace(store: Store) -> None:
    start = await store.resource_version()
    async with store.watch(WatchQuery(REPOS, namespace="two", since=start)) as events:
        await store.create(REPOS, obj("a", "one"))
        await store.create(REPOS, obj("b", "two"))
        await store.create(REPOS, obj("c", "one"))
        await store.create(REPOS, obj("d", "two"))
        got = await take(events, 2)
    assert [e.object["metadata"]["name"] for e in got] == ["b", "d"]


async def test_watch_resumes_after_a_resource_version(store: Store) -> None:
    bodies = [await store.create(REPOS, obj(f"r{i}")) for i in range(5)]
    async with store.watch(WatchQuery(REPOS, since=int(rv_of(bodies[1])))) as events:
        got = await take(events, 3)
    assert [e.object["metadata"]["name"] for e in got] == ["r2", "r3", "r4"]


async def test_watch_since_older_than_compaction_is_expired(store: Store) -> None:
    bodies = [await store.create(REPOS, obj(f"r{i}")) for i in range(6)]
    oldest = await store.compact(keep=2)
    assert oldest == int(rv_of(bodies[4]))
    with pytest.raises(Expired) as caught:
        async with store.watch(WatchQuery(REPOS, since=int(rv_of(bodies[1])))):
            pass
    assert caught.value.message == f"too old resource version: {rv_of(bodies[1])} ({oldest - 1})"
    assert caught.value.code == 410
    async with store.watch(WatchQuery(REPOS, since=oldest - 1)) as events:
        got = await take(events, 2)
    assert [e.object["metadata"]["name"] for e in got] == ["r4", "r5"]


async def test_log_is_compacted_automatically_past_retention(open_test_store: StoreOpener) -> None:
    async with open_test_store(event_retention=10) as store:
        first = await store.create(REPOS, obj("first"))
        for i in range(40):
            await store.create(REPOS, obj(f"r{i}"))
        with pytest.raises(Expired):
            async with store.watch(WatchQuery(REPOS, since=int(rv_of(first)))):
                pass
        recent = await store.resource_version() - 10
        async with store.watch(WatchQuery(REPOS, since=recent)) as events:
            got = await take(events, 10)
    assert got[-1].object["metadata"]["name"] == "r39"


async def test_many_concurrent_watchers_each_see_every_event_in_order(store: Store) -> None:
    watchers, writes = 300, 25
    start = await store.resource_version()
    seen: list[list[int]] = []

    async def watch_one(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with store.watch(WatchQuery(REPOS, since=start)) as events:
            task_status.started()
            seen.append([e.resource_version for e in await take(events, writes)])

    async with trio.open_nursery() as nursery:
        for _ in range(watchers):
            await nursery.start(watch_one)
        written = [int(rv_of(await store.create(REPOS, obj(f"r{i}")))) for i in range(writes)]
    assert len(seen) == watchers
    assert all(rvs == written for rvs in seen)


async def test_watch_after_reopen_catches_up_from_the_log(open_test_store: StoreOpener) -> None:
    async with open_test_store() as store:
        start = await store.resource_version()
        created = await store.apply([Create(REPOS, obj(f"r{i:03}")) for i in range(700)])
        counter = await store.resource_version()
    async with open_test_store() as reopened:
        assert await reopened.resource_version() == counter
        async with reopened.watch(WatchQuery(REPOS, since=start)) as events:
            later = await reopened.create(REPOS, obj("later"))
            got = await take(events, 701)
    assert [e.resource_version for e in got] == [int(rv_of(b)) for b in [*created, later]]


# -- sealed fields --------------------------------------------------------------------


async def test_sealed_fields_round_trip_and_are_not_stored_in_plaintext(
    store: Store, raw_contents: Callable[[], bytes]
) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "git-auth", "namespace": "default", "labels": {"a": "b"}},
              "data": {"password": "c3VwZXItc2VjcmV0LXBsYWludGV4dA=="},
              "stringData": {"token": "plaintext-token-4f1a"}}
    start = await store.resource_version()
    async with store.watch(WatchQuery(SECRETS, since=start)) as events:
        created = await store.create(SECRETS, secret)
        updated = await store.update(SECRETS, dict(created, stringData={"token": "second-token-77"}),
                                     expect_rv=rv_of(created))
        got = await take(events, 2)
    assert got[0].object["stringData"] == {"token": "plaintext-token-4f1a"}
    assert got[1].object["stringData"] == {"token": "second-token-77"}
    fetched = await store.get(SECRETS, "default", "git-auth")
    assert fetched["data"] == secret["data"] and fetched == updated
    listed = await store.list(ListQuery(SECRETS, labels=LabelSelector.parse("a=b")))
    assert listed.items == [updated], "the rest of a sealed body stays queryable"
    raw = raw_contents()
    assert b"git-auth" in raw, "the raw contents are really the store's"
    for plaintext in (b"c3VwZXItc2VjcmV0LXBsYWludGV4dA", b"plaintext-token-4f1a", b"second-token-77"):
        assert plaintext not in raw


async def test_reopen_with_a_wrong_key_is_refused(open_test_store: StoreOpener) -> None:
    async with open_test_store() as store:
        await store.create(SECRETS, {"metadata": {"name": "s"}, "data": {"k": "dg=="}})
    with pytest.raises(StoreUnavailable) as caught:
        async with open_test_store(encryption_key=Fernet.generate_key()):
            pass
    assert "different encryption key" in caught.value.message
    async with open_test_store() as store:
        assert (await store.get(SECRETS, "", "s"))["data"] == {"k": "dg=="}


async def test_a_key_that_is_not_a_fernet_key_is_bad_request(open_test_store: StoreOpener) -> None:
    with pytest.raises(BadRequest) as caught:
        async with open_test_store(encryption_key=b"too short"):
            pass
    assert "Fernet" in caught.value.message


# -- durability across reopen ---------------------------------------------------------


async def test_reopen_keeps_objects_and_the_counter(open_test_store: StoreOpener) -> None:
    async with open_test_store() as store:
        created = await store.create(REPOS, obj("kept", spec={"x": 1}))
        await store.create(REPOS, obj("gone"))
        await store.delete(REPOS, "default", "gone")
        counter = await store.resource_version()
    async with open_test_store() as store:
        assert await store.get(REPOS, "default", "kept") == created
        assert await store.resource_version() == counter
        later = await store.create(REPOS, obj("later"))
        assert int(rv_of(later)) > counter
        await store.ping()


# -- leases ---------------------------------------------------------------------------

EXPIRING_TTL_S = 0.2  # a lease meant to lapse; the test waits past it
RENEWED_TTL_S = 0.5  # a lease renewed every 0.3 s: each check has 0.5 s of slack under load


async def test_a_lease_has_one_holder_at_a_time(store: Store) -> None:
    assert await store.acquire_lease("controllers", "replica-a", 30)
    assert not await store.acquire_lease("controllers", "replica-b", 30)
    assert await store.acquire_lease("sync", "replica-b", 30), "another lease is another name"
    assert not await store.acquire_lease("sync", "replica-a", 30)


async def test_the_holder_renews_its_lease_past_its_first_expiry(store: Store) -> None:
    assert await store.acquire_lease("controllers", "replica-a", RENEWED_TTL_S)
    for _ in range(2):  # 0.6 s in all: beyond the first expiry
        await trio.sleep(0.3)
        assert await store.acquire_lease("controllers", "replica-a", RENEWED_TTL_S)
        assert not await store.acquire_lease("controllers", "replica-b", RENEWED_TTL_S)


async def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(store: Store) -> None:
    assert await store.acquire_lease("controllers", "replica-a", EXPIRING_TTL_S)
    await trio.sleep(EXPIRING_TTL_S * 1.5)
    assert await store.acquire_lease("controllers", "replica-b", 30)
    assert not await store.acquire_lease("controllers", "replica-a", EXPIRING_TTL_S)


async def test_a_released_lease_is_free_at_once_and_only_its_holder_releases(store: Store) -> None:
    assert await store.acquire_lease("controllers", "replica-a", 30)
    await store.release_lease("controllers", "replica-b")  # not the holder: nothing happens
    assert not await store.acquire_lease("controllers", "replica-b", 30)
    await store.release_lease("controllers", "replica-a")
    await store.release_lease("controllers", "replica-a")  # twice is fine
    await store.release_lease("never-taken", "replica-a")
    assert await store.acquire_lease("controllers", "replica-b", 30)


@pytest.mark.parametrize("name, holder, ttl_s", [
    ("", "replica-a", 10.0), ("controllers", "", 10.0), ("controllers", "replica-a", 0.0),
    ("controllers", "replica-a", -1.0), ("controllers", "replica-a", float("nan")),
])
async def test_a_lease_needs_a_name_a_holder_and_a_positive_ttl(
    store: Store, name: str, holder: str, ttl_s: float
) -> None:
    with pytest.raises(BadRequest):
        await store.acquire_lease(name, holder, ttl_s)


# -- named locks ----------------------------------------------------------------------


async def test_a_lock_lets_one_task_in_at_a_time_and_waiters_follow(store: Store) -> None:
    order: list[str] = []
    inside = 0

    async def write(who: str) -> None:
        nonlocal inside
        async with store.lock("repository/default/blueprints", timeout_s=HANG_GUARD_S):
            inside += 1
            assert inside == 1, "two writers inside one lock"
            order.append(f"{who} in")
            await trio.sleep(0.02)
            order.append(f"{who} out")
            inside -= 1

    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            for who in ("a", "b", "c"):
                nursery.start_soon(write, who)
    assert sorted(order[0::2]) == ["a in", "b in", "c in"]
    assert all(o.endswith("out") and o[0] == i[0] for i, o in zip(order[0::2], order[1::2]))


async def test_other_lock_names_do_not_wait(store: Store) -> None:
    with trio.fail_after(HANG_GUARD_S):
        async with store.lock("repository/default/one"):
            async with store.lock("repository/default/two", timeout_s=0):
                pass


async def test_waiting_longer_than_the_timeout_is_conflict_and_the_lock_stays_usable(store: Store) -> None:
    name = "repository/default/blueprints"
    refusals: list[Conflict] = []

    async def contend(timeout_s: float) -> None:
        with pytest.raises(Conflict) as caught:
            async with store.lock(name, timeout_s=timeout_s):
                pytest.fail("entered a held lock")
        refusals.append(caught.value)

    with trio.fail_after(HANG_GUARD_S):
        async with store.lock(name):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(contend, 0.2)
                nursery.start_soon(contend, 0)
            with pytest.raises(RuntimeError):  # not reentrant: the same task asking again is a bug
                async with store.lock(name):
                    pass
        async with store.lock(name, timeout_s=1):
            pass
    assert any("timed out after 0.2s waiting for the lock 'repository/default/blueprints'"
               in refusal.message for refusal in refusals)
    assert all(refusal.retry_after_s for refusal in refusals)


async def test_a_lock_is_released_when_its_body_raises_or_is_cancelled(store: Store) -> None:
    name = "repository/default/blueprints"
    with trio.fail_after(HANG_GUARD_S):
        with pytest.raises(ZeroDivisionError):
            async with store.lock(name):
                1 / 0
        with trio.move_on_after(0.05):
            async with store.lock(name):
                await trio.sleep_forever()
        async with store.lock(name), trio.open_nursery() as nursery:
            async def wait_and_be_cancelled() -> None:
                with trio.move_on_after(0.05):  # cancelled while waiting: leaves nothing behind
                    async with store.lock(name):
                        pytest.fail("entered a held lock")
            nursery.start_soon(wait_and_be_cancelled)
        async with store.lock(name, timeout_s=1):
            pass


async def test_a_lock_needs_a_name_and_a_sane_timeout(store: Store) -> None:
    for name, timeout_s in [("", 1.0), ("x", -1.0), ("x", float("inf"))]:
        with pytest.raises(BadRequest):
            async with store.lock(name, timeout_s=timeout_s):
                pass


# -- index keys: who follows whom, which revisions make a package ---------------------------


def revision(name: str, namespace: str = "default", *, clone_of: str = "", upgrade_to: str = "",
             upgrade_from: str = "", number: int = 0, repository: str = "repo", package: str = "pkg") -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    if clone_of:
        tasks.append({"type": "clone", "clone": {"upstreamRef": {"type": "git", "upstreamRef": {"name": clone_of}}}})
    if upgrade_to or upgrade_from:
        tasks.append({"type": "upgrade", "upgrade": {"oldUpstreamRef": {"name": upgrade_from},
                                                     "newUpstreamRef": {"name": upgrade_to}}})
    return {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "spec": {"repository": repository, "packageName": package, "revision": number, "tasks": tasks}}


async def followers(store: Store, namespace: str, name: str) -> list[str]:
    return [item["metadata"]["name"] for item in await store.indexed(REVS, namespace, upstream_key(name))]


async def test_indexed_finds_the_revisions_whose_clone_or_upgrade_follows_a_name(store: Store) -> None:
    await store.create(REVS, revision("up"))
    await store.create(REVS, revision("b-clone", clone_of="up"))
    await store.create(REVS, revision("a-upgraded", clone_of="older", upgrade_from="older", upgrade_to="up"))
    await store.create(REVS, revision("moved-away", upgrade_from="up", upgrade_to="newer"))
    await store.create(REVS, revision("placeholder", clone_of="up", number=-1))
    await store.create(REVS, revision("elsewhere", "other", clone_of="up"))
    assert await followers(store, "default", "up") == ["a-upgraded", "b-clone"]
    assert await followers(store, "default", "older") == ["a-upgraded"]
    assert await followers(store, "default", "newer") == ["moved-away"]
    assert await followers(store, "other", "up") == ["elsewhere"]
    assert await followers(store, "default", "nobody") == []
    assert await store.indexed(REPOS, "default", upstream_key("up")) == []
    clone = await store.get(REVS, "default", "b-clone")
    assert (await store.indexed(REVS, "default", upstream_key("up")))[1] == clone, "whole objects, as stored"


async def test_indexed_finds_the_revisions_of_one_package_of_one_repository(store: Store) -> None:
    for name, repository, package in [("r.p.v2", "r", "p"), ("r.p.v1", "r", "p"), ("r.p.main", "r", "p"),
                                      ("r.p-2.v1", "r", "p-2"), ("s.p.v1", "s", "p"), ("r.a.b.p.v1", "r", "a/b/p")]:
        await store.create(REVS, revision(name, repository=repository, package=package))
    in_p = await store.indexed(REVS, "default", package_key("r", "p"))
    assert [item["metadata"]["name"] for item in in_p] == ["r.p.main", "r.p.v1", "r.p.v2"]
    assert in_p == (await store.list(ListQuery(REVS, "default", fields=(
        FieldMatch(("spec", "repository"), "=", "r"), FieldMatch(("spec", "packageName"), "=", "p"))))).items
    nested = await store.indexed(REVS, "default", package_key("r", "a/b/p"))
    assert [item["metadata"]["name"] for item in nested] == ["r.a.b.p.v1"]
    assert await store.indexed(REVS, "other", package_key("r", "p")) == []


async def test_index_keys_follow_updates_deletes_and_failed_transactions(store: Store) -> None:
    clone = await store.create(REVS, revision("clone", clone_of="up"))
    moved = revision("clone", upgrade_from="up", upgrade_to="up2", package="renamed")
    moved["metadata"]["resourceVersion"] = rv_of(clone)
    moved = await store.update(REVS, moved, expect_rv=rv_of(clone))
    assert await followers(store, "default", "up") == []
    assert await followers(store, "default", "up2") == ["clone"]
    assert await store.indexed(REVS, "default", package_key("repo", "pkg")) == []
    assert await store.indexed(REVS, "default", package_key("repo", "renamed")) == [moved]
    # A transaction that fails on a later change leaves no rows of its earlier ones.
    with pytest.raises(AlreadyExists):
        await store.apply([Create(REVS, revision("doomed", clone_of="up")), Create(REVS, revision("clone"))])
    assert await followers(store, "default", "up") == []
    await store.delete(REVS, "default", "clone")
    assert await followers(store, "default", "up2") == []
    assert await store.indexed(REVS, "default", package_key("repo", "renamed")) == []
    await store.apply([Create(REVS, revision("again", clone_of="up2")),
                       Create(REVS, revision("also", clone_of="up2"))])
    assert await followers(store, "default", "up2") == ["again", "also"]
    await store.apply([Delete(REVS, "default", "again")])
    assert await followers(store, "default", "up2") == ["also"]
