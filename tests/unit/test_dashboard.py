"""The Grafana dashboard (docs/grafana/codex-actors.json) stays honest: it is a dashboard, every panel queries the
``${datasource}`` Prometheus data source, and its PromQL only names the metrics (and labels) the telemetry spec
exports, and uses every one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_PATH = ROOT / "docs" / "grafana" / "codex-actors.json"
DATASOURCE = "${datasource}"

#: The spec's Prometheus metrics: name -> (type, label names). Counters under their ``_total`` names.
METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "codex_turns_total": ("counter", frozenset({"model", "outcome"})),
    "codex_turn_duration_seconds": ("histogram", frozenset({"model", "outcome"})),
    "codex_turn_time_to_first_token_seconds": ("histogram", frozenset({"model"})),
    "codex_tokens_total": ("counter", frozenset({"model", "type"})),
    "codex_tool_calls_total": ("counter", frozenset({"tool", "kind", "outcome"})),
    "codex_tool_duration_seconds": ("histogram", frozenset({"tool", "kind", "outcome"})),
    "codex_approvals_total": ("counter", frozenset({"kind", "decision", "source"})),
    "codex_approval_wait_seconds": ("histogram", frozenset({"kind", "decision", "source"})),
    "codex_engine_restarts_total": ("counter", frozenset({"reason"})),
    "codex_thread_resumes_total": ("counter", frozenset({"reason"})),
    "codex_engines_up": ("gauge", frozenset()),
    "codex_threads_active": ("gauge", frozenset()),
    "codex_threads_hibernated": ("gauge", frozenset()),
    "codex_requests_total": ("counter", frozenset({"method", "outcome"})),
    "codex_request_duration_seconds": ("histogram", frozenset({"method", "outcome"})),
    "codex_notifications_total": ("counter", frozenset({"method"})),
    "codex_protocol_errors_total": ("counter", frozenset({"kind"})),
    "codex_actor_mailbox_depth": ("gauge", frozenset({"actor_kind"})),
    "codex_build_info": ("gauge", frozenset({"version", "engine_version"})),
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
#: Labels Prometheus adds to every series when it scrapes a target.
TARGET_LABELS = frozenset({"job", "instance"})
#: Grafana's own variables, usable in any query.
GRAFANA_VARIABLES = frozenset({"__rate_interval", "__interval", "__range"})

METRIC_NAME = re.compile(r"codex_[a-z_]+")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)")
SELECTOR = re.compile(r"(codex_[a-z_]+)\s*\{([^{}]*)\}")
MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*')
LABEL_NAME = re.compile(r"[a-zA-Z_]\w*")
RANGE = re.compile(r"\[([^\[\]]*)\]")
RANGE_BODY = re.compile(r"\$__rate_interval|\$__interval|\$__range|\d+[smhdwy]")
RANGE_AFTER_SELECTOR = re.compile(r"codex_[a-z_]+(?:\s*\{[^{}]*\})?\[")
#: A counter or a histogram series is only ever read through one of these.
RATE_FUNCTIONS = re.compile(r"\b(?:rate|irate|increase)\(\s*$")
QUANTILE = re.compile(r"histogram_quantile\(\s*([0-9.]+)\s*,")
LEGEND_LABEL = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
VARIABLE = re.compile(r"\$\{?(\w+)")
PAIRS = {")": "(", "]": "[", "}": "{"}
PROMQL_BLOCK = re.compile(r"^```promql\n(.*?)^```", re.DOTALL | re.MULTILINE)


def base_metric(name: str) -> str | None:
    """The spec metric ``name`` is a series of (a histogram's ``_bucket``/``_sum``/``_count``), or None."""
    if name in METRICS:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and METRICS.get(base, ("", frozenset()))[0] == "histogram":
            return base
    return None


def series_labels(name: str) -> frozenset[str]:
    """The labels a query may use on series ``name`` (a known one): the spec's, the target's, ``le`` on buckets."""
    base = base_metric(name)
    assert base is not None
    labels = METRICS[base][1] | TARGET_LABELS
    return labels | {"le"} if name.endswith("_bucket") else labels


def strip_strings(expr: str) -> str:
    """``expr`` with every double-quoted string's content blanked (``"x{"`` becomes ``""``)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def balance_problems(expr: str) -> list[str]:
    """Unbalanced ``()``, ``[]``, ``{}`` (outside strings) and unterminated strings."""
    code = strip_strings(expr)
    if '"' in code.replace('""', ""):
        return ["an unterminated string"]
    stack: list[str] = []
    for char in code:
        if char in "([{":
            stack.append(char)
        elif char in PAIRS and (not stack or stack.pop() != PAIRS[char]):
            return [f"an unbalanced {char!r}"]
    return [f"an unclosed {stack[-1]!r}"] if stack else []


def expr_problems(expr: str) -> list[str]:
    """What is wrong with one PromQL expression of the dashboard (empty: nothing)."""
    problems = balance_problems(expr)
    if problems:
        return problems
    code = strip_strings(expr)
    names = METRIC_NAME.findall(code)
    if not names:
        return ["names no codex_ metric"]
    unknown = sorted({name for name in names if base_metric(name) is None})
    if unknown:
        return [f"names metrics the spec does not have: {unknown}"]
    # Selectors: every brace belongs to a metric, and matches only that metric's labels.
    selectors = list(SELECTOR.finditer(expr))
    if len(selectors) != code.count("{"):
        problems.append("has a label matcher that does not follow a metric name")
    for selector in selectors:
        name, body = selector.group(1), selector.group(2)
        matchers = body.split(",") if body.strip() else []
        for matcher in matchers:
            match = MATCHER.fullmatch(matcher)
            if match is None:
                problems.append(f"has a malformed label matcher {matcher.strip()!r} on {name}")
            elif match.group(1) not in series_labels(name):
                problems.append(f"matches label {match.group(1)!r}, which {name} does not have")
    # Groupings: every label is one all the metrics of the expression have.
    allowed = frozenset.intersection(*(series_labels(name) for name in names))
    for grouping in GROUPING.finditer(code):
        for label in (part.strip() for part in grouping.group(1).split(",")):
            if not LABEL_NAME.fullmatch(label):
                problems.append(f"groups by a malformed label {label!r}")
            elif label not in allowed:
                problems.append(f"groups by {label!r}, which {sorted(set(names))} do not all have")
    # Range vectors: Grafana's interval or a plain duration, right after a selector.
    for window in RANGE.finditer(code):
        if not RANGE_BODY.fullmatch(window.group(1)):
            problems.append(f"has a range [{window.group(1)}] that is not a duration")
    if len(RANGE_AFTER_SELECTOR.findall(code)) != code.count("["):
        problems.append("has a range that does not follow a selector")
    # Counters and histogram series go through rate/increase; gauges do not.
    for occurrence in METRIC_NAME.finditer(code):
        name = occurrence.group(0)
        base = base_metric(name)
        assert base is not None
        rated = RATE_FUNCTIONS.search(code[: occurrence.start()]) is not None
        if (METRICS[base][0] == "gauge") == rated:
            problems.append(f"{'rates a gauge' if rated else 'reads a raw counter'}: {name}")
    # Quantiles: over buckets, grouped by le, at a level in (0, 1).
    for quantile in QUANTILE.finditer(code):
        if not 0 < float(quantile.group(1)) < 1:
            problems.append(f"asks for quantile {quantile.group(1)}")
    if "histogram_quantile(" in code:
        groups = [{part.strip() for part in group.split(",")} for group in GROUPING.findall(code)]
        if not any(name.endswith("_bucket") for name in names) or not any("le" in group for group in groups):
            problems.append("takes histogram_quantile of something other than buckets summed by le")
    return problems


def legend_problems(expr: str, legend: str) -> list[str]:
    """Legend ``{{label}}``s the expression's result does not carry."""
    code = strip_strings(expr)
    groups = GROUPING.findall(code)
    if groups:
        carried = {part.strip() for group in groups for part in group.split(",")}
    else:
        carried = set(frozenset.union(*(series_labels(name) for name in METRIC_NAME.findall(code))))
    return [
        f"legend shows {label!r}, which the query drops"
        for label in LEGEND_LABEL.findall(legend)
        if label not in carried
    ]


def load() -> dict[str, Any]:
    """The dashboard, parsed."""
    dashboard = json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
    assert isinstance(dashboard, dict)
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels of collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels() -> list[dict[str, Any]]:
    """The panels that query (every panel but rows)."""
    return [panel for panel in all_panels(load()) if panel.get("type") != "row"]


def targets() -> list[tuple[str, str, str]]:
    """(panel title, expr, legend) for every target of every panel."""
    return [
        (panel["title"], target["expr"], target.get("legendFormat", ""))
        for panel in query_panels()
        for target in panel["targets"]
    ]


def references_datasource(ref: object) -> bool:
    """``ref`` is the ``${datasource}`` Prometheus data source (as an object, or the bare string)."""
    if isinstance(ref, dict):
        return ref.get("uid") == DATASOURCE and ref.get("type", "prometheus") == "prometheus"
    return ref == DATASOURCE


# -- the dashboard ----------------------------------------------------------------------------------------------


def test_it_is_a_dashboard() -> None:
    dashboard = load()
    assert isinstance(dashboard.get("title"), str) and dashboard["title"]
    assert dashboard.get("schemaVersion") == 39
    assert isinstance(dashboard.get("panels"), list) and dashboard["panels"]
    assert len(query_panels()) >= 20


def test_panel_ids_are_unique() -> None:
    ids = [panel.get("id") for panel in all_panels(load())]
    assert all(isinstance(panel_id, int) for panel_id in ids)
    assert len(ids) == len(set(ids))


def test_panels_fit_the_grid_without_overlapping() -> None:
    boxes = []
    for panel in all_panels(load()):
        grid = panel["gridPos"]
        x, y, w, h = (grid[key] for key in ("x", "y", "w", "h"))
        assert all(isinstance(value, int) and value >= 0 for value in (x, y)), panel["title"]
        assert w > 0 and h > 0 and x + w <= 24, panel["title"]
        boxes.append((panel["title"], x, y, w, h))
    for i, (title, x, y, w, h) in enumerate(boxes):
        for other, ox, oy, ow, oh in boxes[i + 1 :]:
            assert x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y, f"{title!r} overlaps {other!r}"


def test_the_datasource_is_a_template_variable() -> None:
    variables = {variable["name"]: variable for variable in load()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name, variable in variables.items():
        if variable["type"] == "query":
            assert references_datasource(variable["datasource"]), name
            assert base_metric(METRIC_NAME.findall(variable["definition"])[0]) is not None, name


def test_every_panel_queries_the_datasource() -> None:
    for panel in query_panels():
        assert references_datasource(panel.get("datasource")), panel["title"]
        assert panel.get("targets"), f"{panel['title']!r} has no targets"
        ref_ids = [target.get("refId") for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert isinstance(target.get("expr"), str) and target["expr"].strip(), panel["title"]
            if "datasource" in target:
                assert references_datasource(target["datasource"]), panel["title"]


def test_rows_only_group() -> None:
    rows = [panel for panel in all_panels(load()) if panel.get("type") == "row"]
    assert rows
    assert all(not row.get("targets") and row.get("title") for row in rows)


def test_every_variable_a_query_uses_is_defined() -> None:
    defined = {variable["name"] for variable in load()["templating"]["list"]} | GRAFANA_VARIABLES
    for title, expr, _ in targets():
        assert set(VARIABLE.findall(expr)) <= defined, title


@pytest.mark.parametrize(("title", "expr", "legend"), targets())
def test_each_query_is_well_formed(title: str, expr: str, legend: str) -> None:
    assert expr_problems(expr) == [], title
    assert legend_problems(expr, legend) == [], title


def test_every_spec_metric_has_a_panel() -> None:
    used = {base_metric(name) for _, expr, _ in targets() for name in METRIC_NAME.findall(expr)}
    assert sorted(set(METRICS) - used) == []


def test_every_histogram_has_a_quantile_panel() -> None:
    quantiled = {
        base_metric(name)
        for _, expr, _ in targets()
        if "histogram_quantile(" in expr
        for name in METRIC_NAME.findall(expr)
    }
    assert {name for name, (kind, _) in METRICS.items() if kind == "histogram"} <= quantiled


def test_the_promql_of_the_docs_is_well_formed() -> None:
    """The ```promql blocks of docs/*.md (the "Example PromQL" section) pass the same checks."""
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for block in PROMQL_BLOCK.findall(doc.read_text(encoding="utf-8")):
            assert expr_problems(block.strip()) == [], f"{doc.name}: {block.strip()}"


# -- the checker refuses what it should -------------------------------------------------------------------------

GOOD = [
    'sum by (outcome) (rate(codex_turns_total{job=~"$job"}[$__rate_interval]))',
    "histogram_quantile(0.95, sum by (le, model) (rate(codex_turn_duration_seconds_bucket[5m])))",
    "sum(rate(codex_tool_duration_seconds_sum[5m])) / sum(rate(codex_tool_duration_seconds_count[5m]))",
    'max by (actor_kind) (codex_actor_mailbox_depth{actor_kind="thread"})',
    "sum(increase(codex_engine_restarts_total[1h])) by (reason)",
    'codex_build_info{version=~"0\\\\.1.*"}',
]
BAD = [
    ("sum by (foo) (rate(codex_turns_total[5m]))", "groups by 'foo'"),
    ("sum by (model) (rate(codex_engine_restarts_total[5m]))", "groups by 'model'"),
    ('sum(rate(codex_turns_total{tool="x"}[5m]))', "matches label 'tool'"),
    ('sum(rate(codex_turns_total{le="1"}[5m]))', "matches label 'le'"),
    ("sum(rate(codex_turns_total[5m])", "unclosed '('"),
    ("sum(rate(codex_turns_total[5m)))", "unbalanced ')'"),
    ('sum(rate(codex_turns_total{model="x}[5m]))', "unterminated string"),
    ("sum(rate(codex_turn_total[5m]))", "does not have"),
    ("sum(rate(codex_tokens_total_bucket[5m]))", "does not have"),
    ("rate(codex_engines_up[5m])", "rates a gauge"),
    ("sum(codex_turns_total)", "raw counter"),
    ("histogram_quantile(0.95, sum by (model) (rate(codex_turn_duration_seconds_bucket[5m])))", "buckets"),
    ("histogram_quantile(95, sum by (le) (rate(codex_turn_duration_seconds_bucket[5m])))", "quantile 95"),
    ("sum(rate(codex_turns_total[five]))", "not a duration"),
    ('sum(rate({__name__="x"}[5m])) + sum(codex_engines_up)', "does not follow a metric"),
    ("sum(rate(codex_turns_total{model}[5m]))", "malformed label matcher"),
    ("up", "names no codex_ metric"),
]


@pytest.mark.parametrize("expr", GOOD)
def test_the_checker_accepts(expr: str) -> None:
    assert expr_problems(expr) == []


@pytest.mark.parametrize(("expr", "problem"), BAD)
def test_the_checker_refuses(expr: str, problem: str) -> None:
    problems = expr_problems(expr)
    assert any(problem in found for found in problems), problems


def test_the_legend_checker_refuses_a_dropped_label() -> None:
    expr = "sum by (outcome) (rate(codex_turns_total[5m]))"
    assert legend_problems(expr, "{{outcome}}") == []
    assert legend_problems(expr, "{{model}} {{outcome}}") == ["legend shows 'model', which the query drops"]
