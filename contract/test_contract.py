"""The contract: each scenario runs through ``openai_codex`` 0.163.0 and through ``codex_actors``, in one session.

* ``test_official_sdk_still_matches_its_fixture``: the official SDK's transcript now equals its checked-in fixture
  (``contract/fixtures/python/<scenario>.jsonl``), exactly: harvesting again would change nothing. If it fails, the
  engine, the official SDK or a scenario changed: run ``bin/harvest-fixtures`` and review the fixture diff.
* ``test_codex_actors_matches_the_official_fixture``: our transcript equals the fixture except for the differences
  declared in the "## Contract deviations" table of ``docs/python-parity-checklist.md`` (each with its reason).
  Known bugs are strict xfails (``KNOWN_BUGS``), so a fix shows up as an XPASS failure.
* On failure the readable diff is in the assertion message and in ``.ci/artifacts/contract/<sdk>-<scenario>.diff``.
"""

from __future__ import annotations

import pytest

from .harness import (
    OFFICIAL,
    OURS,
    ContractFailure,
    Deviation,
    all_scenarios,
    check_against_fixture,
    fixture_path,
    load_deviations,
)

SCENARIOS = all_scenarios()
DEVIATIONS = load_deviations()

#: Scenarios where codex_actors differs from the official SDK by a bug (not a declared deviation): strict xfails.
KNOWN_BUGS: dict[str, str] = {}

_USED_ROWS: set[Deviation] = set()
_JUDGED: set[str] = set()


def _ours_params() -> list[object]:
    params: list[object] = []
    for name in SCENARIOS:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])] if name in KNOWN_BUGS else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_official_sdk_still_matches_its_fixture(name: str) -> None:
    check_against_fixture(name, OFFICIAL)


@pytest.mark.parametrize("name", _ours_params())
def test_codex_actors_matches_the_official_fixture(name: str) -> None:
    try:
        verdict = check_against_fixture(name, OURS, DEVIATIONS)
    except ContractFailure as failure:
        if failure.verdict is not None:
            _USED_ROWS.update(row for _, row in failure.verdict.declared)
            _JUDGED.add(name)
        raise
    _USED_ROWS.update(row for _, row in verdict.declared)
    _JUDGED.add(name)


def test_there_are_enough_scenarios_and_each_has_a_fixture() -> None:
    assert len(SCENARIOS) >= 25
    fixtures = {path.stem for path in fixture_path("x").parent.glob("*.jsonl")}
    assert fixtures == set(SCENARIOS), (
        f"fixtures without a scenario: {sorted(fixtures - set(SCENARIOS))}; "
        f"scenarios without a fixture: {sorted(set(SCENARIOS) - fixtures)} (run bin/harvest-fixtures)"
    )


def test_every_deviation_row_names_a_scenario_and_gives_a_reason() -> None:
    assert DEVIATIONS, "the deviations table is missing or empty"
    for row in DEVIATIONS:
        assert row.reason.strip(), row
        assert any(row.applies_to(name) for name in SCENARIOS), f"deviation row matches no scenario: {row}"


def test_every_declared_deviation_is_still_needed() -> None:
    """Runs last: every row excused at least one difference in this session (else it is stale: remove it)."""
    if set(SCENARIOS) != _JUDGED:
        pytest.skip("needs every codex_actors scenario to have run in this session")
    stale = [row for row in DEVIATIONS if row not in _USED_ROWS]
    assert not stale, "deviation rows that excused nothing (remove them):\n" + "\n".join(map(str, stale))
