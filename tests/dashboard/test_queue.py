"""The approval queue across repositories and namespaces, driven by the keyboard."""

from __future__ import annotations

from playwright.sync_api import Dialog, expect

from tests.dashboard.conftest import Site, assert_accessible, login, screenshot
from tests.dashboard.test_revisions import BROKEN, push


def test_the_queue_gathers_waiting_revisions_oldest_first_and_keys_decide(site: Site) -> None:
    admin = site.admin
    admin.ok(admin.http.post("/api/v1/namespaces", json={"metadata": {"name": "team-b"}}), 201)
    admin.register("web")
    admin.register("infra", namespace="team-b")
    admin.init("web", "frontend", "ws1")
    push(site, "web.frontend.ws1", {"app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"})
    admin.publish("web.frontend.ws1")
    admin.init("web", "frontend", "ws2", tasks=[{"type": "edit", "edit": {"sourceRef": {"name": "web.frontend.ws1"}}}])
    push(site, "web.frontend.ws2", {"app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
                                    "extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"})
    push(site, "web.frontend.ws2", {"Kptfile": BROKEN}, code=422)  # refused: its render failure is recorded
    admin.set_lifecycle("web.frontend.ws2", "Proposed")
    admin.init("infra", "network", "ws1", namespace="team-b")
    admin.set_lifecycle("infra.network.ws1", "Proposed", namespace="team-b")
    admin.init("web", "backend", "ws1")
    admin.publish("web.backend.ws1")
    admin.set_lifecycle("web.backend.ws1", "DeletionProposed")
    admin.init("web", "draft-only", "ws1")  # a Draft waits for nobody

    context = site.context()
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    login(page, site)
    page.get_by_role("link", name="Approval queue").click()
    rows = page.locator("#queue-table tbody tr[data-row]")
    expect(rows).to_have_count(3)
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.row)") == [
        "default/web.frontend.ws2", "team-b/infra.network.ws1", "default/web.backend.ws1"]
    expect(rows.nth(0).get_by_test_id("diff")).to_contain_text("+1 ~1 −0 vs v1")
    expect(rows.nth(1).get_by_test_id("diff")).to_contain_text("vs nothing published")
    expect(rows.nth(2)).to_contain_text("deletion")
    expect(rows.nth(0).get_by_test_id("render")).to_have_text("failed")  # its last push was refused
    expect(rows.nth(1).get_by_test_id("render")).to_have_text("passed")
    screenshot(page, "queue")
    assert_accessible(page)

    # Typing in a field is typing, not a decision: a field put on the page takes j, a, ? as text.
    page.evaluate("""() => { const field = document.createElement("input"); field.id = "typing";
                             field.setAttribute("aria-label", "Typing"); document.querySelector("main").prepend(field); }""")
    page.locator("#typing").press_sequentially("ja?r")
    expect(page.locator("#typing")).to_have_value("ja?r")
    assert dialogs == []
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    expect(rows.nth(0)).to_have_class("selected")
    page.locator("#typing").evaluate("field => field.remove()")

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(rows.nth(0)).to_have_class("selected")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("selected")
    page.keyboard.press("a")  # approve team-b/infra.network.ws1
    expect(page.get_by_role("status")).to_contain_text("infra.network.ws1 approved")
    assert admin.get("infra.network.ws1", "team-b")["spec"]["lifecycle"] == "Published"
    expect(rows).to_have_count(2)
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class("selected")
    page.keyboard.press("r")  # reject default/web.frontend.ws2
    expect(page.get_by_role("status")).to_contain_text("web.frontend.ws2 rejected")
    assert admin.get("web.frontend.ws2")["spec"]["lifecycle"] == "Draft"
    expect(rows).to_have_count(1)
    page.keyboard.press("a")  # approve the deletion of web.backend.ws1
    expect(page.get_by_role("status")).to_contain_text("deletion approved")
    assert admin.http.get(admin.revisions_url("web.backend.ws1")).status_code == 404
    expect(page.get_by_text("Nothing is waiting for a decision.")).to_be_visible()
    assert dialogs == ["Approve and publish infra.network.ws1?", "Reject web.frontend.ws2 and send it back to Draft?",
                       "Delete web.backend.ws1 for good? Its tag is removed from git."]
    context.close()
