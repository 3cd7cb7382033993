"""Build the local test images: tiny FROM-scratch busybox images, one per catalog service.

Each listens on its catalog container port (EXPOSEd) and answers its health path with 200, and
``/cgi-bin/whoami`` with its container's host name (which container answered, e.g. through a route).
`variant` changes the served content, so a rebuild with another variant is a new image id.
Broken ones, for the pre-push test gate: ``health_status`` (every request answered with that status
by a busybox nc loop) and ``listen_port`` (EXPOSEs the catalog port, listens on another).
``behaviour="once-then-exit"`` builds a sick one for verification: it answers its health path with
200 once (404 afterwards), and its process exits 1 five seconds after that answer, and again five
seconds after every restart (a crash loop that a single health probe never sees).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
BEHAVIOURS = ("serve", "once-then-exit")

RESPOND = """#!/bin/sh
while IFS= read -r line; do
  case "$line" in ""|"$(printf '\\r')") break ;; esac
done
printf 'HTTP/1.0 {status} Test\\r\\nContent-Type: text/plain\\r\\nContent-Length: 6\\r\\nConnection: close\\r\\n\\r\\nerror\\n'
"""
"""A one-request HTTP responder for ``nc -ll -e``: reads the request head, answers ``status``."""

WHOAMI = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nhostname\n"
"""A CGI script answering the container's host name (Docker's: the short container id)."""


def dockerfile(
    port: int, behaviour: str = "serve", health_path: str = "/health", listen_port: int | None = None, health_status: int = 200
) -> str:
    """A scratch image with static busybox as /bin/sh, wget and httpd (or an nc loop answering ``health_status``)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"behaviour should be one of {', '.join(BEHAVIOURS)}, not {behaviour!r}")
    # a shell as PID 1 that exits on SIGTERM (httpd as PID 1 ignores it: every stop would take 10 s); one line in its log,
    # as a service says it started (what `deployctl logs` shows)
    cmd = f"echo listening on port {port}; trap 'exit 0' TERM; /bin/busybox httpd -f -p {port} -h /www & wait"
    extra = ""
    if listen_port or health_status != 200:  # a broken image says what it does (the gate shows the last lines)
        listen = listen_port or port
        server = f"/bin/busybox httpd -f -p {listen} -h /www"
        if health_status != 200:
            server = f"/bin/busybox nc -ll -p {listen} -e /respond"
            extra = "COPY respond /respond\n"
        cmd = f"echo listening on port {listen}; trap 'exit 0' TERM; {server} & wait"
    if behaviour == "once-then-exit":
        served = "/www/" + health_path.strip("/")
        cmd = (
            "trap 'exit 0' TERM; mkdir -p /tmp; "
            f"/bin/busybox httpd -f -vv -p {port} -h /www 2>>/tmp/httpd.log & "
            "until grep -q 'response:200' /tmp/httpd.log 2>/dev/null; do sleep 0.2; done; "
            f"rm -rf {served}; echo 'answered its health path once; exiting with 1 in 5 s (testkit once-then-exit)'; "
            "sleep 5; echo 'exiting with 1'; exit 1"
        )
    return (
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "COPY www /www\n"
        f"{extra}"
        f"EXPOSE {port}\n"
        f"CMD {json.dumps(['/bin/sh', '-c', cmd])}\n"
    )


def write_context(
    root: Path,
    name: str,
    port: int,
    health_path: str,
    variant: str,
    behaviour: str = "serve",
    listen_port: int | None = None,
    health_status: int = 200,
) -> None:
    """The build context: busybox, the Dockerfile and a www tree that answers health_path."""
    shutil.copy(BUSYBOX, root / "busybox")
    (root / "Dockerfile").write_text(dockerfile(port, behaviour, health_path, listen_port, health_status))
    if health_status != 200:
        (root / "respond").write_text(RESPOND.replace("{status}", str(health_status)))
        (root / "respond").chmod(0o755)
    www = root / "www"
    target = www / health_path.strip("/")
    if health_path.endswith("/"):
        target = target / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f'{{"status":"ok","service":"{name}","variant":"{variant}"}}\n')
    (www / "index.html").write_text(f"{name} {variant}\n")
    whoami = www / "cgi-bin" / "whoami"  # busybox httpd runs /cgi-bin/* as CGI scripts
    whoami.parent.mkdir(parents=True, exist_ok=True)
    whoami.write_text(WHOAMI)
    whoami.chmod(0o755)


BUILD_LOCKS = Path(tempfile.gettempdir()) / "bizosaas-test-image-locks"
"""One lock file per image tag, for the whole machine (every checkout's suite and its xdist workers)."""


@contextlib.contextmanager
def tag_lock(tag: str, *, wait: bool = True) -> Iterator[None]:
    """Hold the machine-wide lock of one image tag: concurrent builders of a tag (the catalog's local image names are
    fixed) take turns, so each build and the id read after it see their own image, not another builder's half-done one.
    ``wait=False``: raise BlockingIOError at once when another holds it."""
    BUILD_LOCKS.mkdir(exist_ok=True)
    path = BUILD_LOCKS / hashlib.sha256(tag.encode()).hexdigest()[:16]
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_image(
    tag: str,
    name: str,
    port: int,
    health_path: str,
    variant: str = "v1",
    behaviour: str = "serve",
    *,
    listen_port: int | None = None,
    health_status: int = 200,
) -> str:
    """Build one test image; returns its image id.

    Under the tag's machine-wide lock (tag_lock), as other checkouts and workers build the same fixed tags; still tried
    twice (a builder that does not take the lock, e.g. an older checkout's suite); the second failure raises with Docker's words.
    """
    with tempfile.TemporaryDirectory() as tmp, tag_lock(tag):
        root = Path(tmp)
        write_context(root, name, port, health_path, variant, behaviour, listen_port, health_status)
        for _ in range(2):
            built = subprocess.run(
                ["docker", "build", "-q", "-t", tag, str(root)],
                capture_output=True,
                text=True,
                env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
                check=False,
            )
            if built.returncode == 0:
                break
        else:
            raise RuntimeError(f"docker build -t {tag} failed twice: {(built.stderr or built.stdout).strip()[-500:]}")
        out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", tag], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def build_catalog_images(raw_catalog: dict[str, Any], variant: str = "v1", only: list[str] | None = None) -> dict[str, str]:
    """Build the local image of every catalog service (or only some); returns service -> image id."""
    ids = {}
    for name, spec in raw_catalog["services"].items():
        if only and name not in only:
            continue
        ids[name] = build_image(spec["local_image"], name, int(spec["port"]), spec["health"], variant)
    return ids


def remove_containers(name_part: str) -> None:
    """Remove every container whose name contains name_part (test and benchmark clean-up)."""
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"name={name_part}"], capture_output=True, text=True, check=False)
    ids = listed.stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
