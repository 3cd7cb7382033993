"""Where the running registry keeps its data (the benchmark counts the bytes pushes add there)."""

from __future__ import annotations

from pathlib import Path

from testkit.registry_stats import disk_bytes, serving_root


def _process(proc: Path, pid: int, *argv: str) -> None:
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_the_storage_root_is_read_from_the_running_registry_config(tmp_path: Path) -> None:
    config = tmp_path / "registry.yml"
    config.write_text("version: 0.1\nstorage:\n  filesystem: {rootdirectory: /srv/elsewhere/registry}\n")
    _process(tmp_path / "proc", 10, "/usr/bin/python3", "serve", "x")
    _process(tmp_path / "proc", 11, "/usr/bin/docker-registry", "serve", str(config))
    assert serving_root(tmp_path / "default", tmp_path / "proc") == Path("/srv/elsewhere/registry")


def test_the_default_when_no_registry_runs_or_its_config_is_gone(tmp_path: Path) -> None:
    _process(tmp_path / "proc", 10, "/usr/bin/python3", "-m", "http.server")
    assert serving_root(tmp_path / "default", tmp_path / "proc") == tmp_path / "default"
    _process(tmp_path / "proc", 12, "/usr/bin/docker-registry", "serve", str(tmp_path / "missing.yml"))
    assert serving_root(tmp_path / "default", tmp_path / "proc") == tmp_path / "default"


def test_disk_bytes_counts_every_file_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "blob").write_bytes(b"x" * 300)
    (tmp_path / "link").write_bytes(b"y" * 12)
    assert disk_bytes(tmp_path) == 312
