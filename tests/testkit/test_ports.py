"""testkit/ports.py: a port handed out is never handed out again while reserved, to this process or another."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit import ports


@pytest.fixture
def reservations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ports.json"
    monkeypatch.setattr(ports, "RESERVATIONS", path)
    return path


def test_a_port_handed_out_is_not_handed_out_again_even_when_the_kernel_offers_it(reservations: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = ports.free_ports(3)
    assert len(set(first)) == 3 and set(json.loads(reservations.read_text())) == {str(p) for p in first}
    offered = iter([first[0], first[1], first[0], 40_001])  # the kernel offers the same ports again: only the new one is taken
    monkeypatch.setattr(ports, "_kernel_port", lambda hosts: next(offered))
    assert ports.free_ports(1) == [40_001]


def test_a_reservation_lapses_after_reserve_s(reservations: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reservations.write_text(json.dumps({"40002": time.time() - ports.RESERVE_S - 1, "40003": time.time()}))
    monkeypatch.setattr(ports, "_kernel_port", lambda hosts: 40_002)
    assert ports.free_ports(1) == [40_002]
    assert set(json.loads(reservations.read_text())) == {"40002", "40003"}


def test_another_process_is_not_handed_the_ports_this_one_was(reservations: Path) -> None:
    mine = ports.free_ports(20)
    code = (f"from pathlib import Path; from testkit import ports; ports.RESERVATIONS = Path({str(reservations)!r}); "
            "print(*ports.free_ports(20))")
    theirs = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                            text=True, check=True).stdout.split()
    assert len(theirs) == 20 and not set(mine) & {int(p) for p in theirs}


def test_claim_takes_a_block_only_when_every_port_is_free_and_unreserved(reservations: Path) -> None:
    [noted] = ports.free_ports(1)
    assert not ports.claim([noted + 1, noted])  # one of them reserved: none taken
    assert str(noted + 1) not in json.loads(reservations.read_text())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        assert not ports.claim([taken])  # one of them in use
    free = ports.free_ports(2)
    reservations.write_text("{}")
    assert ports.claim(free) and not ports.claim(free)  # taken once, then reserved


@pytest.mark.parametrize("address", ["127.0.0.2", "0.0.0.0"])
def test_a_port_in_use_on_another_address_is_neither_claimed_nor_handed_out(reservations: Path, address: str) -> None:
    """Docker publishes on 0.0.0.0 unless told an address: a port free on 127.0.0.1 but listened on elsewhere would fail
    its `docker run -p` ("driver failed programming external connectivity")."""
    with socket.socket() as elsewhere:
        elsewhere.bind((address, 0))
        elsewhere.listen()
        taken = elsewhere.getsockname()[1]
        assert not ports.claim([taken])
        assert str(taken) not in json.loads(reservations.read_text() or "{}")
        assert not ports._free_everywhere(taken, ("127.0.0.1",))  # what free_ports asks of each port the kernel offers
    assert ports.claim([taken])  # closed: free again


def test_a_block_of_published_ports_lies_below_the_ephemeral_range_and_is_never_handed_out_twice(reservations: Path) -> None:
    published = [3000, 3001, 8001, 8009]
    offsets = [ports.free_offset(published, (0, 100)) for _ in range(5)]
    blocks = [{p + o + s for p in published for s in (0, 100)} for o in offsets]
    for block in blocks:
        assert min(block) >= 10000 and max(block) < ports.ephemeral_start()  # no port-0 listener can take one of them
    assert len(set().union(*blocks)) == sum(map(len, blocks))  # five blocks, no port in two
    noted = set(json.loads(reservations.read_text()))
    assert {str(p) for block in blocks for p in block} <= noted
