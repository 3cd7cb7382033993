"""testkit/images.tag_lock: builders of one image tag take turns (machine-wide); builders of different tags do not wait."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from testkit import images

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(images, "BUILD_LOCKS", tmp_path / "locks")
    return tmp_path / "locks"


def _try_in_another_process(locks: Path, tag: str) -> str:
    """Whether another process could take tag's lock right now, without waiting ("free" or "held")."""
    code = (
        "from pathlib import Path\nfrom testkit import images\n"
        f"images.BUILD_LOCKS = Path({str(locks)!r})\n"
        "try:\n"
        f"    with images.tag_lock({tag!r}, wait=False): print('free')\n"
        "except BlockingIOError: print('held')\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def test_another_process_waits_for_a_tag_being_built_but_not_for_another_tag(locks: Path) -> None:
    with images.tag_lock("bizosaas-brain-api:latest"):
        assert _try_in_another_process(locks, "bizosaas-brain-api:latest") == "held"
        assert _try_in_another_process(locks, "bizosaas-thrillring-gaming:latest") == "free"
    assert _try_in_another_process(locks, "bizosaas-brain-api:latest") == "free"


def test_two_threads_building_one_tag_take_turns(locks: Path) -> None:
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def first() -> None:
        with images.tag_lock("bizosaas-brain-api:latest"):
            order.append("first in")
            first_in.set()
            release.wait(10)
            order.append("first out")

    def second() -> None:
        first_in.wait(10)
        with images.tag_lock("bizosaas-brain-api:latest"):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_in.wait(10)
    threads[1].join(0.5)  # the second is still waiting for the lock the first holds
    release.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]
