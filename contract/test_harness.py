"""Tests of the contract harness itself: it catches a broken wire mapping; it normalizes, diffs and parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import codex_actors
from codex_actors import _sync_api
from codex_actors._modes import ApprovalMode

from .harness import (
    ARTIFACTS,
    CHECKLIST,
    OFFICIAL,
    OURS,
    ROOT,
    ContractFailure,
    Deviation,
    check_against_fixture,
    compare,
    dump_transcript,
    judge,
    load_deviations,
    normalize,
    run_scenario,
    to_data,
    wire_records,
)

# ---------------------------------------------------------------------------------------------------------------
# The harness catches a broken mapping


def test_a_broken_wire_mapping_fails_the_contract_with_a_diff_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """thread_start() made to drop ``approvalsReviewer`` (in-process): the contract check fails and says where."""
    original = _sync_api.approval_settings  # type: ignore[attr-defined]  # imported by the generated block

    def broken(mode: ApprovalMode | None, *, inherit: bool = True) -> tuple[str | None, str | None]:
        policy, _reviewer = original(mode, inherit=inherit)
        return policy, None

    monkeypatch.setattr(_sync_api, "approval_settings", broken)
    name = "thread_start_default_blocking_run"
    with pytest.raises(ContractFailure) as failed:
        check_against_fixture(name, OURS, load_deviations())
    report = str(failed.value)
    verdict = failed.value.verdict
    assert verdict is not None and not verdict.ok
    missing = [diff for diff in verdict.undeclared if diff.kind == "missing"]
    assert [diff.path for diff in missing] == ["c2s:thread/start#1.params.approvalsReviewer"]
    assert missing[0].expected == "auto_review"
    line = next(line for line in report.splitlines() if "params.approvalsReviewer" in line)
    assert line.strip().startswith("missing  c2s:thread/start#1.params.approvalsReviewer")
    assert '"auto_review"' in line and "absent in codex_actors" in line
    # the unified diff shows the line that went missing from what the SDK sent
    assert re.search(r'^- +"approvalsReviewer": "auto_review",?$', report, re.MULTILINE)
    # the engine's answer changed with it (it fell back to its configured reviewer): reported too
    assert any(diff.path == "reply:thread/start#1.result.approvalsReviewer" for diff in verdict.undeclared)
    # the same report is in the CI artifact
    artifact = ARTIFACTS / f"{OURS}-{name}.diff"
    assert f"(this report is also in {artifact.relative_to(ROOT)})" in report
    assert artifact.read_text(encoding="utf-8").rstrip("\n") == report.rsplit("\n(this report", 1)[0]
    artifact.unlink()


def test_the_unbroken_mapping_passes() -> None:
    verdict = check_against_fixture("thread_start_default_blocking_run", OURS, load_deviations())
    assert verdict.ok and [row.path for _, row in verdict.declared] == ["meta.request_id_type*"]


# ---------------------------------------------------------------------------------------------------------------
# Run-to-run stability (the full measurement is `bin/harvest-fixtures --repeat N`)


@pytest.mark.parametrize("sdk", [OFFICIAL, OURS])
def test_two_runs_give_the_same_normalized_transcript(sdk: str) -> None:
    name = "turn_shell_command"  # uuids, pids, paths, timings, a sandboxed process, a second model request
    first, second = run_scenario(name, sdk), run_scenario(name, sdk)
    assert dump_transcript(first.transcript) == dump_transcript(second.transcript)


# ---------------------------------------------------------------------------------------------------------------
# Normalization

CLIENT = "(codex_python_sdk; 0.163.0)"
RAW_UUID_1 = "01a20e57-bd5f-7033-bb30-ca334d077192"
RAW_UUID_2 = "01a20e57-bd74-7683-bab3-08f6ff4d9828"


def test_normalize_masks_what_differs_between_runs(tmp_path: Path) -> None:
    records = [
        {
            "key": "s2c:x",
            "message": {
                "params": {
                    "threadId": RAW_UUID_2,
                    "other": RAW_UUID_1,
                    "again": f"rollout-2026-11-24T16-10-01-{RAW_UUID_2}.jsonl",
                    "createdAt": 1795536960,
                    "startedAtMs": 1795536960914,
                    "durationMs": 281,
                    "started_at": 1,
                    "processId": "42284",
                    "cwd": f"{tmp_path}/engine/workspace",
                    "url": "http://127.0.0.1:39211/v1",
                    "userAgent": f"codex_python_sdk/0.163.0 (Debian 12.0.0; x86_64) xterm {CLIENT}",
                    "cursor": "2026-11-24T16:23:35.389Z",
                    "none": None,
                    "flag": True,
                }
            },
        }
    ]
    (out,) = normalize(records, roots=[tmp_path])
    params = out["message"]["params"]
    assert out["key"] == "s2c:x#1"
    assert params["again"] == "rollout-<time>-<uuid:1>.jsonl"  # numbered by first appearance (keys sorted)
    assert params["other"] == "<uuid:2>" and params["threadId"] == "<uuid:1>"
    assert params["createdAt"] == params["startedAtMs"] == params["durationMs"] == params["started_at"] == "<time>"
    assert params["processId"] == "<pid>"
    assert params["cwd"] == "<root>/engine/workspace"
    assert params["url"] == "http://127.0.0.1:<port>/v1"
    assert params["userAgent"] == f"codex_python_sdk/0.163.0 (<platform>) <terminal> {CLIENT}"
    assert params["cursor"] == "<iso-time>"
    assert params["none"] is None and params["flag"] is True


def _diff_of(path: str) -> str:
    return f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+hi\n"


@pytest.mark.parametrize("above", ["", "tmp/", "home/user/work/tmp/"])
def test_diff_paths_are_normalized_relative_to_the_workspace_wherever_the_engine_roots_them(
    tmp_path: Path, above: str
) -> None:
    """The engine renders a turn's diff relative to the enclosing git repository when there is one (a temp dir
    inside a git work tree, on some machines), else relative to the thread's cwd: both read the same."""
    root = tmp_path / "codex-contract-abc"
    plain = [{"key": "s2c:turn/diff/updated", "message": {"params": {"diff": _diff_of("hello.txt")}}}]
    rooted = [
        {
            "key": "s2c:turn/diff/updated",
            "message": {"params": {"diff": _diff_of(f"{above}{root.name}/engine/workspace/hello.txt")}},
        }
    ]
    assert normalize(rooted, roots=[root]) == normalize(plain, roots=[root])
    assert "a/hello.txt b/hello.txt" in normalize(rooted, roots=[root])[0]["message"]["params"]["diff"]


def test_an_engine_estimated_token_total_is_masked_and_a_reported_one_kept() -> None:
    """After a compaction the engine estimates the context size from the history's text (which holds the
    machine's paths): that total differs between machines; the model's reported usage does not."""

    def usage(input_tokens: int, output_tokens: int, total: int) -> dict[str, Any]:
        return {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": total}

    records = [{"key": "s2c:u", "message": {"last": usage(0, 0, 6820), "total": usage(20, 10, 30)}}]
    (out,) = normalize(records)
    assert out["message"]["last"]["totalTokens"] == "<estimate>"
    assert out["message"]["total"]["totalTokens"] == 30
    assert normalize([{"key": "s2c:u", "message": {"last": usage(0, 0, 6831)}}]) == normalize(
        [{"key": "s2c:u", "message": {"last": usage(0, 0, 6820)}}]
    )


def test_normalize_is_idempotent_and_key_order_independent(tmp_path: Path) -> None:
    one = [{"key": "a", "message": {"b": RAW_UUID_2, "a": RAW_UUID_1}}]
    two = [{"key": "a", "message": {"a": RAW_UUID_1, "b": RAW_UUID_2}}]
    assert normalize(one) == normalize(two)
    assert normalize(normalize(one)) == normalize(one)


def test_wire_records_pair_requests_with_replies_group_by_thread_and_sort_multisets() -> None:
    def c2s(line: Any) -> dict[str, Any]:
        return {"dir": "c2s", "line": line}

    def s2c(line: Any) -> dict[str, Any]:
        return {"dir": "s2c", "line": line}

    lines = [
        c2s({"id": "u1", "method": "initialize", "params": {}}),
        s2c({"method": "configWarning", "params": {}}),  # volatile: left out
        s2c({"method": "thread/status/changed", "params": {"threadId": "B"}}),  # volatile: left out
        s2c({"id": "u1", "result": {}}),
        c2s({"method": "initialized"}),
        c2s({"id": "u2", "method": "turn/start", "params": {"threadId": "B"}}),
        s2c({"method": "turn/started", "params": {"threadId": "B"}}),
        s2c({"method": "item/started", "params": {"threadId": "A"}}),
        s2c({"id": "u2", "result": {}}),
        s2c({"id": 0, "method": "item/commandExecution/requestApproval", "params": {"threadId": "B"}}),
        c2s({"id": 0, "result": {"decision": "accept"}}),
        s2c({"method": "thread/readState/changed", "params": {"threadId": "B", "readState": {"n": 2}}}),
        s2c({"method": "thread/status/changed", "params": {"threadId": "B", "status": {"type": "idle"}}}),
        s2c({"method": "turn/completed", "params": {"threadId": "B"}}),
        s2c({"method": "thread/readState/changed", "params": {"threadId": "B", "readState": {"n": 1}}}),
        {"dir": "s2c", "line": None, "raw": "not json"},
        c2s({"id": 1, "method": "initialize", "params": {}}),  # a second engine: ids start again
        s2c({"id": 1, "result": {"again": True}}),
    ]
    keys = [record["key"] for record in wire_records(lines)]
    assert keys == [
        "c2s:initialize",
        "reply:initialize",
        "c2s:initialized",
        "c2s:turn/start",
        "reply:turn/start",
        "s2c:<not json>",
        "s2c:turn/started",
        "s2c:item/commandExecution/requestApproval",
        "answer:item/commandExecution/requestApproval",
        "s2c:turn/completed",
        "s2c:thread/readState/changed",  # a multiset: sorted by content at the end of the thread's group
        "s2c:thread/readState/changed",
        "s2c:item/started",
        "c2s:initialize",
        "reply:initialize",
    ]
    records = wire_records(lines)
    assert records[-1]["message"] == {"id": "<id>", "result": {"again": True}}
    assert records[8]["message"] == {"id": "<id>", "result": {"decision": "accept"}}
    assert [r["message"]["params"]["readState"]["n"] for r in records[10:12]] == [1, 2]


def test_to_data_shows_structs_with_their_defaults_like_pydantic_dumps() -> None:
    from openai_codex.generated.v2_all import TextUserInput as Theirs

    from codex_actors._protocol.generated import TextUserInput as Ours

    theirs = to_data(Theirs(text="hi", type="text"))
    ours = to_data(Ours(text="hi"))
    assert theirs == ours == {"text": "hi", "text_elements": [], "type": "text"}


# ---------------------------------------------------------------------------------------------------------------
# Comparing and deviations


def test_compare_reports_missing_extra_changed_and_order() -> None:
    expected: list[dict[str, Any]] = [
        {"key": "a", "message": {"x": 1, "y": [1, 2]}},
        {"key": "b", "message": {"z": "same"}},
        {"key": "c", "message": None},
    ]
    actual: list[dict[str, Any]] = [
        {"key": "b", "message": {"z": "same"}},
        {"key": "a", "message": {"x": "1", "y": [1], "w": True}},
        {"key": "d", "message": {}},
    ]
    shown = {(diff.kind, diff.path) for diff in compare(expected, actual)}
    assert shown == {
        ("missing", "c"),
        ("extra", "d"),
        ("order", "order:a"),
        ("changed", "a.x"),  # 1 vs "1": types count
        ("missing", "a.y[1]"),
        ("extra", "a.w"),
    }


def test_declared_deviations_excuse_only_their_scenario_and_path() -> None:
    expected: list[dict[str, Any]] = [
        {"key": "meta", "request_id_type": ["string"]},
        {"key": "sdk:x", "value": {"type": "A"}},
    ]
    actual: list[dict[str, Any]] = [
        {"key": "meta", "request_id_type": ["integer"]},
        {"key": "sdk:x", "value": {"type": "B"}},
    ]
    rows = [Deviation("*", "meta.request_id_type*", "ids"), Deviation("other", "sdk:x.*", "not this one")]
    verdict = judge("scn", expected, actual, rows)
    assert [diff.path for diff, _ in verdict.declared] == ["meta.request_id_type[0]"]
    assert [diff.path for diff in verdict.undeclared] == ["sdk:x.value.type"]
    assert "1 declared deviation(s)" in verdict.report and "[ids]" in verdict.report


def test_deviation_globs_treat_brackets_literally() -> None:
    row = Deviation("turn_*", "sdk:run.value.data.items[*].id", "r")
    assert row.matches("turn_join", "sdk:run.value.data.items[3].id")
    assert not row.matches("thread_x", "sdk:run.value.data.items[3].id")
    assert not row.matches("turn_join", "sdk:run.value.data.items3.id")


def test_load_deviations_parses_the_table_and_refuses_rows_without_a_reason() -> None:
    text = (
        "# Title\n\n## Contract deviations\n\nSome text.\n\n"
        "| scenario | path | reason |\n|---|---|---|\n"
        "| `*` | `meta.request_id_type*` | integer ids |\n"
        "| `a_b` | `sdk:x.*` | because |\n\n## Next\n| x | y | z |\n"
    )
    assert load_deviations(text) == [
        Deviation("*", "meta.request_id_type*", "integer ids"),
        Deviation("a_b", "sdk:x.*", "because"),
    ]
    with pytest.raises(ValueError, match="reason"):
        load_deviations(text.replace("because", " "))
    with pytest.raises(ValueError, match="3 cells"):
        load_deviations(text.replace("| because |", "| because | extra |"))
    assert load_deviations("# nothing here\n") == []


def test_the_checklist_table_parses_and_every_row_has_a_reason() -> None:
    rows = load_deviations(CHECKLIST.read_text(encoding="utf-8"))
    assert rows and all(row.reason for row in rows)


def test_to_data_of_handles_and_errors() -> None:
    class Handle:
        def __init__(self) -> None:
            self.thread_id, self.id, self._secret = "t", "u", "hidden"

    assert to_data(Handle()) == {"thread_id": "t", "id": "u"}
    assert to_data(codex_actors.ApprovalMode.deny_all) == "deny_all"
    assert to_data({"a": None, "b": [1, None]}) == {"b": [1, None]}
