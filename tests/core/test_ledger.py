"""The release ledger read from update history entries: what each update recorded, the release list,
`previous` after failed deploys and rollbacks, damaged entries skipped with a warning."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from core import ledger
from core.release import release_id

REPO = "127.0.0.1:5000/o/brain-api"


def manifest(n: int) -> dict[str, str]:
    return {"brain-api": f"{REPO}@sha256:{n:064x}"}


def release(n: int, verified: bool = True, **extra: Any) -> dict[str, Any]:
    text = f"services:\n  brain-api:\n    image: {REPO}@sha256:{n:064x}\n"
    rec = ledger.record(stack="s", manifest=manifest(n), compose={"backend": {"text": text, "env_keys": ["DATABASE_URL"]}}, **extra)
    return {**rec, "by": f"user{n}", "commit": f"{n}" * 40, "recorded_at": f"2026-12-0{n % 9 + 1}T00:00:00Z", "verified": verified}


def checkpoint(outputs: dict[str, Any] | None, state: dict[str, Any] | None) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [{"type": ledger.STACK_TYPE, "urn": "urn:pulumi:s::p::Stack::p-s", "outputs": outputs or {}}]
    if state is not None:
        resources.append({"type": ledger.RECORD_TYPE, "urn": "urn:...::release", "outputs": state})
    return {"version": 3, "checkpoint": {"stack": "organization/p/s", "latest": {"resources": resources}}}


class History:
    """A stack's history entries, built update by update as the engine would leave them."""

    def __init__(self) -> None:
        self.entries: list[ledger.Entry] = []
        self.outputs: dict[str, Any] = {}
        self.state: dict[str, Any] | None = None

    def _add(self, kind: str, result: str, outputs: dict[str, Any], state: dict[str, Any] | None) -> None:
        n = len(self.entries) + 1
        info = {"kind": kind, "result": result, "startTime": 1_800_000_000 + n, "endTime": 1_800_000_010 + n, "environment": {}}
        self.entries.append(ledger.Entry(f"h/s-{1_800_000_000_000_000_000 + n}.history.json", n, info, checkpoint(outputs, state)))

    def up(self, rel: dict[str, Any]) -> None:
        """A succeeded update: new outputs, the record of its release."""
        self.outputs = {"release": rel, "release_id": rel["id"], "verified": rel["verified"]}
        self.state = {**ledger.summary(rel), "by": rel["by"], "commit": rel["commit"], "recorded_at": rel["recorded_at"]}
        self._add("update", "succeeded", self.outputs, self.state)

    def failed(self, rel: dict[str, Any] | None) -> None:
        """A failed update: the outputs stay, the record is the attempted release's (None: failed before it was written)."""
        if rel is not None:
            self.state = {**ledger.summary(rel), "by": "ci", "commit": "c" * 40, "recorded_at": "2026-12-09T00:00:00Z"}
        self._add("update", "failed", self.outputs, self.state)

    def refresh(self) -> None:
        self._add("refresh", "succeeded", self.outputs, self.state)

    def rows(self) -> tuple[list[ledger.Deployment], list[str]]:
        warnings: list[str] = []
        return ledger.deployments(self.entries, warnings.append), warnings


def test_a_succeeded_update_records_its_release_and_a_redeploy_is_one_release() -> None:
    h = History()
    h.up(release(1))
    h.up(release(1))
    h.up(release(2))
    rows, warnings = h.rows()
    assert warnings == []
    assert [(r.update, r.release_id, r.status) for r in rows] == [
        (1, release(1)["id"], "verified"),
        (2, release(1)["id"], "verified"),
        (3, release(2)["id"], "verified"),
    ]
    listed = ledger.releases(rows)
    assert [(r.id, r.status, [d.update for d in r.deployments]) for r in listed] == [
        (release(2)["id"], "verified", [3]),
        (release(1)["id"], "verified", [1, 2]),
    ]
    assert listed[1].first.by == "user1" and listed[1].first.commit == "1" * 12
    assert rows[0].has_compose and rows[0].release["compose"]["backend"]["env_keys"] == ["DATABASE_URL"]  # type: ignore[index]


def test_previous_after_a_failed_deploy_is_the_last_verified_release() -> None:
    h = History()
    h.up(release(1))
    h.up(release(2))
    h.failed(release(3, verified=False))  # recorded r3, then its deploy failed: r3 runs (in part)
    rows, _ = h.rows()
    assert [r.status for r in rows] == ["verified", "verified", "failed"]
    assert ledger.current(rows).release_id == release(3)["id"]  # type: ignore[union-attr]
    assert ledger.previous("s", rows).release_id == release(2)["id"]
    assert ledger.releases(rows)[0].status == "failed"


def test_a_failure_before_the_release_was_recorded_leaves_the_current_release_current() -> None:
    h = History()
    h.up(release(1))
    h.up(release(2))
    h.failed(None)  # a push failed: the record, and what runs, did not change
    rows, _ = h.rows()
    assert rows[-1].status == "failed" and rows[-1].release_id == ""
    assert ledger.previous("s", rows).release_id == release(1)["id"]


def test_previous_after_a_rollback_is_the_release_it_replaced() -> None:
    h = History()
    h.up(release(1))
    h.up(release(2))
    h.up(release(1, pinned=release(1)["id"]))
    rows, _ = h.rows()
    assert ledger.previous("s", rows).release_id == release(2)["id"]
    assert ledger.find("s", rows, release(1)["id"]).update == 3  # the newest verified deployment of it


def test_unverified_and_failed_releases_are_never_rolled_back_to() -> None:
    h = History()
    h.up(release(1))
    h.up(release(2, verified=False))  # deployed, nothing checked it
    h.failed(release(3, verified=False))
    h.up(release(4))
    rows, _ = h.rows()
    assert ledger.previous("s", rows).release_id == release(1)["id"]
    with pytest.raises(LookupError, match=rf"release {release(2)['id']} was never verified \(update 2 unverified\)"):
        ledger.find("s", rows, release(2)["id"])
    with pytest.raises(LookupError, match=rf"release {release(3)['id']} was never verified \(update 3 failed\)"):
        ledger.find("s", rows, release(3)["id"])


def test_lookup_messages_name_the_stack_and_the_known_releases() -> None:
    with pytest.raises(LookupError, match=r"stack s: no release has been recorded"):
        ledger.previous("s", [])
    h = History()
    h.up(release(1))
    rows, _ = h.rows()
    with pytest.raises(LookupError, match=rf"stack s: no verified release before the current one \({release(1)['id']}, verified\)"):
        ledger.find("s", rows, "previous")
    with pytest.raises(LookupError, match=rf"stack s: no release r-x in the stack's update history \(known: {release(1)['id']}\)"):
        ledger.find("s", rows, "r-x")


def test_a_damaged_entry_is_skipped_with_a_warning_and_the_others_are_read() -> None:
    h = History()
    h.up(release(1))
    h.up(release(2))
    h.up(release(3))
    h.entries[1] = ledger.Entry(h.entries[1].key, 2, None, None)  # truncated history file: not JSON
    h.entries[2] = ledger.Entry(h.entries[2].key, 3, h.entries[2].history, {"checkpoint": "cut"})
    rows, warnings = h.rows()
    assert [r.release_id for r in rows] == [release(1)["id"]]
    assert warnings == [
        f"skipped update 2 ({h.entries[1].key}): its history record is damaged (not the JSON the engine writes)",
        f"skipped update 3 ({h.entries[2].key}): its checkpoint is missing or damaged",
    ]


def test_an_unreadable_entry_newer_than_the_pick_refuses_and_an_older_one_does_not() -> None:
    """Issue 22.4: an entry the backend could not serve (a 503 after the retries) is not damaged: it may be what runs now."""
    h = History()
    for n in (1, 2, 3, 4):
        h.up(release(n))
    why = "s3://b: get .pulumi/x answered HTTP 503 SlowDown (after 5 attempts)"
    fourth = h.entries[3]
    h.entries[3] = ledger.Entry(fourth.key, 4, None, None, unreadable=why)
    rows, warnings = h.rows()
    assert [(r.update, r.status) for r in rows] == [(1, "verified"), (2, "verified"), (3, "verified"), (4, "unreadable")]
    assert warnings == [f"update 4 ({h.entries[3].key}) could not be read: {why}"]
    # without the refusal, previous would be 2 (3 looks current): two releases back from what runs
    refusal = rf"^stack s: refusing to pick the previous release: .*\(update 4: {re.escape(why)}\)"
    with pytest.raises(ledger.HistoryUnreadable, match=refusal):
        ledger.find("s", rows, "previous")
    with pytest.raises(ledger.HistoryUnreadable, match=rf"refusing to pick release {release(3)['id']}"):
        ledger.find("s", rows, release(3)["id"])
    h.entries[3] = fourth
    h.entries[0] = ledger.Entry(h.entries[0].key, 1, None, None, unreadable=why)
    h.up(release(5))
    rows, _ = h.rows()
    assert ledger.find("s", rows, "previous").release_id == release(4)["id"]  # update 1 is older than the pick: not in the way
    with pytest.raises(ledger.HistoryUnreadable, match=r"update 1: "):
        ledger.find("s", rows, release(1)["id"])  # ... unless it is the release asked for


def test_other_kinds_are_counted_but_record_no_release() -> None:
    h = History()
    h.up(release(1))
    h.refresh()
    h.up(release(2))
    rows, _ = h.rows()
    assert [(r.update, r.release_id) for r in rows] == [(1, release(1)["id"]), (3, release(2)["id"])]


def test_outputs_of_stacks_deployed_before_the_release_output_are_read() -> None:
    text = f"services:\n  brain-api:\n    image: {REPO}@sha256:{1:064x}\n"
    outputs = {"release_id": release_id(manifest(1)), "release_manifest": manifest(1), "compose": {"backend": text}, "verified": True}
    entry = ledger.Entry("h/s-1.history.json", 1, {"kind": "update", "result": "succeeded"}, checkpoint(outputs, None))
    (row,) = ledger.deployments([entry], print)
    assert row.release_id == release_id(manifest(1)) and row.verified and row.has_compose
    assert row.release["compose"]["backend"]["sha256"] == ledger.sha256_text(text)  # type: ignore[index]


def test_a_secret_or_malformed_release_output_is_reported_not_trusted() -> None:
    secret = {"release": {ledger.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}}
    bad = {"release": {"id": "nope"}}
    entries = [
        ledger.Entry("h/s-1.history.json", 1, {"kind": "update", "result": "succeeded"}, checkpoint(secret, None)),
        ledger.Entry("h/s-2.history.json", 2, {"kind": "update", "result": "succeeded"}, checkpoint(bad, None)),
    ]
    warnings: list[str] = []
    rows = ledger.deployments(entries, warnings.append)
    assert [r.release_id for r in rows] == ["", ""]
    assert "encrypted (secret)" in warnings[0] and "not a release record" in warnings[1]


def test_record_and_summary() -> None:
    rec = release(5)
    assert rec["id"] == release_id(manifest(5)) and rec["schema"] == ledger.SCHEMA
    assert rec["compose"]["backend"]["sha256"] == ledger.sha256_text(rec["compose"]["backend"]["text"])
    assert ledger.summary(rec) == {
        "release_id": rec["id"],
        "stack": "s",
        "manifest": manifest(5),
        "compose_sha256": {"backend": rec["compose"]["backend"]["sha256"]},
        "promoted_from": "",
        "pinned": "",
    }
    assert json.loads(json.dumps(rec)) == rec  # plain JSON: what a checkpoint holds


def test_history_keys_sort_by_their_timestamp() -> None:
    keys = ["a/s-1700000000000000000.history.json", "a/s-999.history.json", "a/s-1800000000000000000.history.json.gz"]
    assert sorted(keys, key=ledger.update_sort_key) == [keys[1], keys[0], keys[2]]
