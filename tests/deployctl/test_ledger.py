"""The release ledger: where it lives, what a record holds, how `previous` and lookups pick a release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployctl import ledger


def outputs(n: int) -> dict[str, object]:
    digest = f"sha256:{n:064x}"
    return {
        "release_id": f"r-{n:012x}",
        "verified": True,
        "release_manifest": {"brain-api": f"127.0.0.1:5000/o/brain-api@{digest}"},
        "compose": {"backend": f"services: {{}}  # {n}\n"},
        "promoted_from": "",
        "verification": {"brain-api": {"digest": digest, "health": "healthy", "restarts": 0, "window_s": 10.0}},
    }


@pytest.fixture(autouse=True)
def ledger_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BIZOSAAS_LEDGER_DIR", str(tmp_path))
    return tmp_path


def test_ledger_lives_beside_a_file_backend_when_no_dir_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BIZOSAAS_LEDGER_DIR")
    assert ledger.ledger_path("s", (tmp_path / "b").as_uri()) == tmp_path / "b" / "ledger" / "bizosaas-deploy" / "s.jsonl"
    with pytest.raises(RuntimeError, match="BIZOSAAS_LEDGER_DIR or a file:// backend"):
        ledger.ledger_path("s", "s3://bucket")


def test_record_appends_one_json_line_with_the_release_and_compose_hashes(ledger_dir: Path) -> None:
    entry = ledger.record("staging", outputs(1), 7)
    lines = (ledger_dir / "bizosaas-deploy" / "staging.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [entry]
    assert entry["release_id"] == "r-000000000001" and entry["update"] == 7 and entry["verified"] is True
    assert entry["manifest"] == outputs(1)["release_manifest"]
    assert entry["verification"] == {"brain-api": {"digest": f"sha256:{1:064x}", "health": "healthy", "restarts": 0, "window_s": 10.0}}
    assert set(entry["compose_sha256"]) == {"backend"} and len(entry["compose_sha256"]["backend"]) == 64


def test_releases_are_oldest_first_and_find_returns_the_newest_with_that_id() -> None:
    for n in (1, 2, 1):
        ledger.record("staging", outputs(n), n)
    assert [e["release_id"] for e in ledger.releases("staging")] == ["r-000000000001", "r-000000000002", "r-000000000001"]
    assert ledger.find("staging", "r-000000000001")["update"] == 1
    assert ledger.find("staging", "previous")["release_id"] == "r-000000000002"


def test_find_names_the_stack_and_the_known_releases_when_the_release_is_unknown() -> None:
    ledger.record("staging", outputs(3), 1)
    with pytest.raises(LookupError, match=r"stack staging: no release r-x in the ledger \(known: r-000000000003\)"):
        ledger.find("staging", "r-x")
    with pytest.raises(LookupError, match="no release before the current one"):
        ledger.find("staging", "previous")
