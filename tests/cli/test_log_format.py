"""--log-format json: one JSON object per record, with the fields a caller attached."""

from __future__ import annotations

import json
import logging
import sys

from porch_embedded.cli._logging import JsonFormatter


def test_a_record_becomes_one_json_line_with_its_extra_fields() -> None:
    record = logging.LogRecord("porch_embedded.api.requests", logging.INFO, __file__, 1, "GET %s %d",
                               ("/apis", 200), None)
    record.__dict__.update({"user": "alice", "verb": "list", "code": 200, "latency_s": 0.25})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "GET /apis 200" and entry["level"] == "INFO"
    assert entry["logger"] == "porch_embedded.api.requests" and entry["time"].endswith("Z")
    assert {k: entry[k] for k in ("user", "verb", "code", "latency_s")} == {
        "user": "alice", "verb": "list", "code": 200, "latency_s": 0.25}
    assert "args" not in entry and "pathname" not in entry


def test_a_failure_carries_its_traceback_in_one_field() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: broken" in entry["error"] and entry["msg"] == "failed"
