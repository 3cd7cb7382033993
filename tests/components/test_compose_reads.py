"""components.compose_reads through the ComposeProject provider, against the Dokploy stand-in: the diffs of one command
read each compose once (the first diff of an environment reads the others ahead), the update takes what its diff read."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from components import compose_reads
from components.compose_project import ComposeProjectProvider
from testkit.dokploy import FakeDokploy
from tests.components.conftest import procs, settle


def created(provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, names: list[str]) -> list[dict[str, Any]]:
    outs = [provider.create({**props, "compose_name": name}).outs or {} for name in names]
    settle(srv)
    srv.reset_calls()
    return outs


def gets(srv: FakeDokploy) -> Counter[str]:
    return Counter(procs(srv, "GET"))


def test_the_first_diff_of_an_environment_reads_its_other_composes_ahead_and_the_next_diffs_read_nothing(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = created(provider, props, srv, ["backend", "frontend", "workers"])
    first = provider.diff(outs[0]["compose_id"], outs[0], {**props, "compose_name": "backend"})
    assert first.changes is False
    deadline = 50
    while gets(srv)["compose.one"] < 3 and deadline:  # the read-ahead runs in the background
        deadline -= 1
        settle(srv)
    assert gets(srv) == {"environment.one": 1, "compose.one": 3}  # its own, and the other two, before their diffs
    for out, name in zip(outs[1:], ["frontend", "workers"], strict=True):
        assert provider.diff(out["compose_id"], out, {**props, "compose_name": name}).changes is False
    assert gets(srv) == {"environment.one": 1, "compose.one": 3} and srv.write_calls == 0


def test_a_row_read_ahead_is_not_used_once_it_is_old_and_an_edit_in_dokploy_is_seen(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    outs = created(provider, props, srv, ["backend", "frontend"])
    monkeypatch.setattr(compose_reads, "FRESH", 0.0)
    assert provider.diff(outs[0]["compose_id"], outs[0], {**props, "compose_name": "backend"}).changes is False
    with provider._client(props, "test") as client:  # edited in Dokploy's UI after the read-ahead
        client.compose.update(outs[1]["compose_id"], composeFile=props["compose_file"] + "# edited\n")
    diff = provider.diff(outs[1]["compose_id"], outs[1], {**props, "compose_name": "frontend"})
    assert (diff.changes, diff.replaces) == (True, [])


def test_the_update_takes_the_row_its_diff_read(provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy) -> None:
    [out] = created(provider, props, srv, ["backend"])
    with provider._client(props, "test") as client:  # a failed update left Dokploy on another file
        client.compose.update(out["compose_id"], composeFile=props["compose_file"] + "# B\n")
    settle(srv)
    srv.reset_calls()
    assert provider.diff(out["compose_id"], out, props).changes is True
    provider.update(out["compose_id"], out, props)
    assert gets(srv)["compose.one"] == 1  # the diff's; the update wrote the declared file back without asking again
    assert procs(srv, "POST") == ["compose.update", "compose.redeploy"]


def test_a_read_ahead_that_cannot_start_leaves_every_diff_to_read_its_own_compose(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = created(provider, props, srv, ["backend", "frontend"])

    def broken() -> Any:
        raise RuntimeError("no client")

    with provider._client(props, "test") as client:
        first = compose_reads.read(client, outs[0]["compose_id"], props["environment_id"], broken)
        second = compose_reads.read(client, outs[1]["compose_id"], props["environment_id"], broken)  # does not wait for ever
    assert (first or {}).get("name") == "backend" and (second or {}).get("name") == "frontend"
    assert gets(srv) == {"compose.one": 2}
