"""The default pre-push image test (probes/image_smoke_test.py): pure helpers, then the real script against real containers.

The Docker half runs the script exactly as the gate's command:local:Command does (``venv/bin/python -m
probes.image_smoke_test ...`` from the project directory) against tiny busybox images built here under
this run's own names, and checks that no container is left behind, whatever happened.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from probes import image_smoke_test as smoke
from testkit import images

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / "venv" / "bin" / "python"

# --- pure helpers ------------------------------------------------------------------------------------

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:270F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F41 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000
"""


def test_listening_sockets_are_read_from_proc_net_tcp_tables() -> None:
    assert [str(x) for x in smoke.parse_proc_net_tcp(TCP)] == ["0.0.0.0:9999", "127.0.0.1:8001"]
    assert [str(x) for x in smoke.parse_proc_net_tcp(TCP6, v6=True)] == ["[::]:3000", "[::1]:8080"]
    assert [x.loopback_only for x in smoke.parse_proc_net_tcp(TCP6, v6=True)] == [False, True]


def test_why_nothing_answered_on_the_catalog_port() -> None:
    parse = smoke.parse_proc_net_tcp
    assert smoke.port_reason(8001, parse(TCP)[:1]) == "it listens on port 9999, not on its catalog port 8001"
    assert smoke.port_reason(8001, parse(TCP)).startswith("it listens on its catalog port 8001 only on loopback (127.0.0.1:8001)")
    assert smoke.port_reason(8001, []) == "it listens on no TCP port, not on its catalog port 8001"
    assert smoke.port_reason(8001, [smoke.Listener("0.0.0.0", 9090), smoke.Listener("::", 9999)]) == (
        "it listens on ports 9090, 9999, not on its catalog port 8001"
    )
    assert smoke.port_reason(9999, parse(TCP)) == "its catalog port 9999 is open but GET returned no HTTP answer"
    assert "could not be read" in smoke.port_reason(8001, None)


def test_env_file_lines_are_literal_and_one_line_each() -> None:
    assert smoke.env_file_text({"B": "x=$y 'q'", "A": "1"}) == "A=1\nB=x=$y 'q'\n"
    with pytest.raises(smoke.CannotTest, match="one-line values"):
        smoke.env_file_text({"A": "two\nlines"})


@pytest.mark.parametrize("host", ["", "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2376"])
def test_a_local_engine_is_accepted(host: str) -> None:
    smoke.check_local_engine(host)


@pytest.mark.parametrize("host", ["tcp://10.0.0.5:2376", "ssh://builder@ci.example.test"])
def test_a_remote_engine_is_refused_with_what_to_do(host: str) -> None:
    with pytest.raises(smoke.CannotTest, match=r"not a Docker Engine on this machine.*testGate: false"):
        smoke.check_local_engine(host)


def test_output_lines_are_cut_and_cleaned() -> None:
    lines = smoke.last_lines("a\x1b[31mred\n\n" + "x" * 1000 + "\n", count=5)
    assert lines[0] == "a [31mred" and len(lines[1]) == smoke.LINE_CHARS and lines[1].endswith("…")


# --- the script against real containers ----------------------------------------------------------------


def _docker_ok() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


docker_only = pytest.mark.skipif(not _docker_ok(), reason="needs a running Docker Engine")
RUN = secrets.token_hex(3)


@pytest.fixture(scope="module")
def built() -> Iterator[dict[str, str]]:
    """This run's images: good, answering 500, listening on another port, exiting at once."""
    tags = {kind: f"smoke-test-{RUN}/{kind}:latest" for kind in ("good", "status500", "wrong-port", "exits")}
    tags["good-id"] = images.build_image(tags["good"], "brain-api", 8001, "/health", f"good-{RUN}")
    images.build_image(tags["status500"], "brain-api", 8001, "/health", f"500-{RUN}", health_status=500)
    images.build_image(tags["wrong-port"], "brain-api", 8001, "/health", f"port-{RUN}", listen_port=9999)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "Dockerfile").write_text(
            f"FROM {tags['good']}\nCMD [\"/bin/sh\", \"-c\", \"echo starting; echo DATABASE_URL is not set >&2; exit 3\"]\n"
        )
        subprocess.run(["docker", "build", "-q", "-t", tags["exits"], tmp], check=True, capture_output=True,
                       env={"DOCKER_BUILDKIT": "0", "PATH": os.environ["PATH"]})
    try:
        yield tags
    finally:
        subprocess.run(["docker", "rmi", "-f", *(t for k, t in tags.items() if k != "good-id")], capture_output=True, check=False)


def smoke_cmd(image: str, *extra: str, timeout: float = 3, test: tuple[str, ...] = ()) -> list[str]:
    args = [str(PYTHON), "-m", "probes.image_smoke_test", "--service", "brain-api", "--image", image, "--port", "8001",
            "--health", "/health", "--timeout", str(timeout), *extra]
    return [*args, "--", *test] if test else args


def run_smoke(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120, check=False)


def leftovers() -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label={smoke.LABEL}.service=brain-api", "--filter",
                          f"label={smoke.LABEL}.pid", "--format", "{{.Names}} {{.Label \"bizosaas.test.pid\"}}"],
                         capture_output=True, text=True, check=False).stdout.split("\n")
    return [line for line in out if line.strip()]


def my_leftovers(pid: int) -> list[str]:
    return [line for line in leftovers() if line.endswith(f" {pid}")]


@docker_only
def test_a_good_image_passes_in_one_line_and_leaves_nothing(built: dict[str, str]) -> None:
    proc = subprocess.Popen(smoke_cmd(built["good-id"], "--image-name", built["good"]), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=120)  # returns once the output is closed: nothing left behind holds it
    assert proc.returncode == 0, stdout + stderr
    assert stdout.startswith("image test of brain-api passed: GET /health on port 8001 answered 200 after ")
    assert stdout.rstrip().endswith(f"[{built['good-id'][:19]}]")
    assert stdout.count("\n") == 1 and stderr == ""
    assert _wait_for(lambda: my_leftovers(proc.pid) == [], timeout=30), my_leftovers(proc.pid)  # removed right after, detached


@docker_only
def test_a_health_path_answering_500_fails_naming_the_service_and_the_status(built: dict[str, str]) -> None:
    result = run_smoke(smoke_cmd(built["status500"], timeout=2))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "image test of service brain-api FAILED: GET /health on its catalog port 8001 answered HTTP 500, not 2xx, for 2s"
    assert lines[-2:] == ["  last lines of the container's output (1):", "    listening on port 8001"]


@docker_only
def test_an_image_listening_on_another_port_fails_naming_both_ports(built: dict[str, str]) -> None:
    result = run_smoke(smoke_cmd(built["wrong-port"], timeout=2))
    assert result.returncode == 1
    assert result.stdout.startswith(
        "image test of service brain-api FAILED: it listens on port 9999, not on its catalog port 8001 "
        "(GET /health got no HTTP answer in 2s: "
    ), result.stdout
    assert "    listening on port 9999" in result.stdout
    assert len(result.stdout.splitlines()) <= 4 + smoke.LOG_LINES


@docker_only
def test_a_container_that_exits_fails_at_once_with_its_last_lines(built: dict[str, str]) -> None:
    started = time.monotonic()
    result = run_smoke(smoke_cmd(built["exits"], timeout=60))
    assert time.monotonic() - started < 30, "an exited container must not wait for the timeout"
    assert result.returncode == 1
    assert result.stdout.startswith("image test of service brain-api FAILED: the container exited with code 3 after "), result.stdout
    assert "    starting" in result.stdout and "    DATABASE_URL is not set" in result.stdout


@docker_only
def test_the_container_gets_only_the_test_env_and_the_own_test_runs_inside(built: dict[str, str]) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    check = 'test "$PLACEHOLDER" = "fake value" && test -z "$DOKPLOY_API_KEY" && ! env | grep -q canary- && echo env ok'
    env = {"BIZOSAAS_TEST_ENV": json.dumps({"PLACEHOLDER": "fake value"}), "DOKPLOY_API_KEY": canary}
    passed = run_smoke(smoke_cmd(built["good"], test=("/bin/sh", "-c", check)), env)
    assert passed.returncode == 0, passed.stdout
    assert passed.stdout.rstrip().endswith(f"its test (/bin/sh -c {check}) passed [{built['good']}]")
    failed = run_smoke(smoke_cmd(built["good"], test=("/bin/sh", "-c", "echo 3 tests; echo 1 failed: test_login; exit 5")), env)
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[0].startswith("image test of service brain-api FAILED: its test (/bin/sh -c echo 3 tests;")
    assert failed.stdout.splitlines()[0].endswith("exited with status 5")
    assert failed.stdout.splitlines()[-2:] == ["    3 tests", "    1 failed: test_login"]
    assert canary not in passed.stdout + failed.stdout


@docker_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_test_and_removes_its_container(built: dict[str, str], sig: signal.Signals) -> None:
    proc = subprocess.Popen(smoke_cmd(built["status500"], timeout=60), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert _wait_for(lambda: bool(my_leftovers(proc.pid))), "the test container never started"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig
    assert out == f"image test of service brain-api interrupted by {sig.name}; its container was removed\n"
    assert my_leftovers(proc.pid) == []


@docker_only
def test_sigkill_leaves_no_container_either(built: dict[str, str]) -> None:
    """What a cancelled `pulumi up` does (the stand-in kills the command's process group): the detached reaper removes it."""
    proc = subprocess.Popen(smoke_cmd(built["status500"], timeout=60), cwd=ROOT, stdout=subprocess.DEVNULL, process_group=0)
    assert _wait_for(lambda: bool(my_leftovers(proc.pid))), "the test container never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert _wait_for(lambda: my_leftovers(proc.pid) == [], timeout=30), my_leftovers(proc.pid)


@docker_only
def test_a_missing_image_cannot_be_tested() -> None:
    result = run_smoke(smoke_cmd("sha256:" + "0" * 64))
    assert result.returncode == 2
    assert result.stdout.startswith("image test of service brain-api could not run: docker run sha256:0000")


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
