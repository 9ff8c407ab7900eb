// porch-embedded dashboard: htmx settings and the approval queue's keys (no build step).
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    // Errors (4xx, 5xx) are swapped too: the server retargets them into the message area.
    htmx.config.responseHandling = [
      {code: "204", swap: false},
      {code: "[23]..", swap: true},
      {code: "[45]..", swap: true, error: true},
    ];
    htmx.config.historyCacheSize = 0;
    selectRow(Number(sessionStorage.getItem("queue-selected") || 0));
  });

  // The Reload button of a 409 (no inline script: the Content-Security-Policy forbids it).
  document.addEventListener("click", function (event) {
    if (event.target && event.target.closest && event.target.closest("[data-reload]")) {
      window.location.reload();
    }
  });

  // A live refresh replaces the queue: keep the same row selected.
  document.addEventListener("htmx:afterSwap", function () {
    selectRow(Number(sessionStorage.getItem("queue-selected") || 0));
  });

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-table tbody tr[data-row]"));
  }

  function selectRow(index) {
    var all = rows();
    if (!all.length) { return; }
    index = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) {
      row.classList.toggle("selected", i === index);
      if (i === index) { row.setAttribute("aria-current", "true"); } else { row.removeAttribute("aria-current"); }
    });
    sessionStorage.setItem("queue-selected", String(index));
    return all[index];
  }

  function selected() {
    var all = rows();
    var index = all.findIndex(function (row) { return row.classList.contains("selected"); });
    return {all: all, index: index < 0 ? 0 : index};
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("queue-table")) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
                   target.isContentEditable)) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var help = document.getElementById("help");
    var current = selected();
    var row;
    switch (event.key) {
      case "j":
        row = selectRow(current.index + 1); if (row) { row.focus(); } break;
      case "k":
        row = selectRow(current.index - 1); if (row) { row.focus(); } break;
      case "Enter":
        row = current.all[current.index];
        if (row && (target === row || target === document.body)) { row.querySelector("a.open").click(); }
        return;
      case "a":
      case "r":
        row = current.all[current.index];
        var button = row && row.querySelector('button[data-action="' + (event.key === "a" ? "approve" : "reject") + '"]');
        if (button) { button.click(); }
        break;
      case "?":
        if (help.open) { help.close(); } else { help.showModal(); }
        break;
      default:
        return;
    }
    event.preventDefault();
  });
})();
