"""docs/telemetry.md is true to the code: its event table is the catalogue, its metric table the families."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from codex_actors._metrics import Metrics
from codex_actors.telemetry import EVENTS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "telemetry.md").read_text(encoding="utf-8")
_CELL = re.compile(r"`([^`]+)`")


def table_rows(first_header: str) -> dict[str, list[str]]:
    """``{first cell: cells}`` of the markdown table whose header starts with ``| first_header |``."""
    lines = DOC.split(f"| {first_header} |", 1)[1].splitlines()[2:]
    rows: dict[str, list[str]] = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_the_event_table_is_the_catalogue() -> None:
    rows = table_rows("event")
    assert list(rows) == list(EVENTS)
    for name, spec in EVENTS.items():
        _, measurements, metadata, _ = rows[name]
        assert tuple(_CELL.findall(measurements)) == spec.measurements, name
        assert tuple(_CELL.findall(metadata)) == spec.metadata, name


def test_the_metric_table_lists_every_family_with_its_type_and_labels() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    families = {family.name: family for family in registry.collect()}
    rows = table_rows("metric")
    documented = {name.removesuffix("_total"): cells for name, cells in rows.items()}
    assert set(documented) == set(families)
    for name, family in families.items():
        _, kind, labels, _ = documented[name]
        assert kind == family.type, name
        sample_labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        assert sample_labels <= set(_CELL.findall(labels)), name
