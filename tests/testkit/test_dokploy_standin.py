"""Tests of testkit.dokploy, the Dokploy v0.30.2 stand-in.

The replay test sends every request recorded against a real Dokploy v0.30.2
(testkit/dokploy/captures, a copy of shared/dokploy/captures) through the same sequence of calls
the recording was made with, and requires byte-identical bodies once generated ids,
timestamps, appName suffixes and log paths are normalized.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from testkit import ports
from testkit.dokploy import FakeDokploy
from testkit.dokploy.__main__ import main as cli_main
from testkit.dokploy.validation import ValidationFailed, get_index

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "testkit" / "dokploy" / "captures"
SHARED_CAPTURES = Path("/work/shared/dokploy/captures")


# -- helpers ------------------------------------------------------------------------------------


class Api:
    """A minimal client: REST calls with the x-api-key header."""

    def __init__(self, base: str, key: str | None) -> None:
        self.base, self.key = base, key
        self.http = requests.Session()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"x-api-key": self.key} if self.key else {}
        return {**out, **(extra or {})}

    def get(self, proc: str, timeout: float = 10, **params: Any) -> requests.Response:
        return self.http.get(f"{self.base}/api/{proc}", params=params, headers=self.headers(), timeout=timeout)

    def post(self, proc: str, body: Any = None, timeout: float = 10) -> requests.Response:
        return self.http.post(f"{self.base}/api/{proc}", json={} if body is None else body, headers=self.headers(), timeout=timeout)

    def ok(self, method: str, proc: str, body: Any = None, **params: Any) -> Any:
        r = self.get(proc, **params) if method == "GET" else self.post(proc, body)
        assert r.status_code == 200, r.text
        return r.json() if r.content else None

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.base}/__fake__/{path}", json=body, headers=self.headers(), timeout=10)


@pytest.fixture
def key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def srv(key: str):
    server = FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0.05, deploy_duration=0.05)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(srv: FakeDokploy, key: str) -> Api:
    return Api(srv.base_url, key)


def make_compose(api: Api, name: str = "svc", compose_file: str = "services:\n  web:\n    image: x\n") -> tuple[str, str]:
    """A project and a raw compose in its production environment; returns (environmentId, composeId)."""
    created = api.ok("POST", "project.create", {"name": f"proj-{name}"})
    env_id = created["environment"]["environmentId"]
    compose = api.ok("POST", "compose.create", {"name": name, "environmentId": env_id, "sourceType": "raw", "composeFile": compose_file})
    return env_id, compose["composeId"]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# -- captures -----------------------------------------------------------------------------------


@dataclass
class Capture:
    name: str
    method: str | None = None
    path: str | None = None
    note: str = ""
    body: str | None = None
    status: int = 0
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    response: str = ""


def load_capture(name: str) -> Capture:
    lines = (CAPTURES / f"{name}.txt").read_text(encoding="utf-8").split("\n")
    cap = Capture(name)
    i = 0
    while i < len(lines) and lines[i].startswith("### "):
        text = lines[i][4:]
        if text.startswith("body: "):
            cap.body = text[len("body: ") :]
        else:
            method, path, *rest = text.split(" ", 2)
            cap.method, cap.path, cap.note = method, path, " ".join(rest)
        i += 1
    m = re.match(r"HTTP/1\.1 (\d+) ?(.*)", lines[i])
    assert m, f"{name}: no status line"
    cap.status, cap.reason = int(m.group(1)), m.group(2)
    i += 1
    while i < len(lines) and lines[i].strip():
        k, _, v = lines[i].partition(":")
        cap.headers[k.strip().lower()] = v.strip()
        i += 1
    cap.response = lines[i + 1] if i + 1 < len(lines) else ""
    return cap


_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_APP = re.compile(r'"compose(?:-[a-z0-9]+)+-[a-z0-9]{6}"')
_ID = re.compile(r'"[A-Za-z0-9_-]{21}"')
_LOG = re.compile(r'"logPath":"[^"]*"')


def normalize(text: str) -> str:
    """Generated values out of the way: ids, timestamps, generated appNames, log paths."""
    text = _LOG.sub('"logPath":"<path>"', text)
    text = _TS.sub("<ts>", text)
    text = _APP.sub('"<app>"', text)
    return _ID.sub('"<id>"', text)


def poll_lines(name: str) -> list[tuple[str, Any]]:
    out = []
    for line in (CAPTURES / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        _, status, rest = line.split(" ", 2)
        out.append((status, ast.literal_eval(rest)))
    return out


class Replayer:
    """Sends captured requests (real ids swapped for ours) and compares with the recording."""

    def __init__(self, srv: FakeDokploy, key: str) -> None:
        self.srv, self.key = srv, key
        self.ids: dict[str, str] = {}
        self.used: set[str] = set()

    def sub(self, text: str) -> str:
        for real, ours in self.ids.items():
            text = text.replace(real, ours)
        return text

    def send(self, cap: Capture, key: str | None = None) -> requests.Response:
        assert cap.method and cap.path
        headers = {} if "no x-api-key" in cap.note else {"x-api-key": key or self.key}
        data = None
        if cap.body is not None:
            headers["Content-Type"] = "application/json"
            data = self.sub(cap.body).encode()
        return requests.request(cap.method, self.srv.base_url + self.sub(cap.path), data=data, headers=headers, timeout=10)

    def check(self, name: str, response: requests.Response | None = None, *, key: str | None = None) -> requests.Response:
        cap = load_capture(name)
        self.used.add(name)
        r = response if response is not None else self.send(cap, key)
        assert r.status_code == cap.status, f"{name}: {r.status_code} {r.text}"
        if cap.reason:
            assert r.reason == cap.reason, name
        for header in ("content-type", "etag", "content-length", "x-frame-options", "content-security-policy",
                       "x-content-type-options", "referrer-policy"):
            if header in cap.headers:
                assert r.headers.get(header) == cap.headers[header], f"{name}: header {header}"
        ours, theirs = normalize(r.text), normalize(self.sub(cap.response))
        if name == "trpc-native-project-all":  # the recording is truncated
            assert ours.startswith(theirs), f"{name}:\n{ours}\n{theirs}"
        elif name != "err-ratelimited-key":  # headers only in the recording
            assert ours == theirs, f"{name}:\nours:   {ours}\ntheirs: {theirs}"
        return r

    def learn(self, name: str, response: requests.Response) -> None:
        """Map the recording's generated ids to ours, key by key."""
        real = json.loads(load_capture(name).response)
        ours = response.json()

        def walk(a: Any, b: Any) -> None:
            if isinstance(a, dict) and isinstance(b, dict):
                for k, v in a.items():
                    if k.endswith("Id") and isinstance(v, str) and isinstance(b.get(k), str):
                        self.ids.setdefault(v, b[k])
                    walk(v, b.get(k))

        walk(real, ours)

    def poll_state(self, compose_id: str) -> tuple[str, list[dict[str, Any]]]:
        one = requests.get(f"{self.srv.base_url}/api/compose.one", params={"composeId": compose_id},
                           headers={"x-api-key": self.key}, timeout=10).json()
        return one["composeStatus"], one["deployments"]

    def check_poll(self, name: str, compose_id: str, fields: tuple[str, ...], newest_only: bool, line: int = -1) -> None:
        self.used.add(name)
        status, recorded = poll_lines(name)[line]
        compose_status, deployments = self.poll_state(compose_id)
        assert compose_status == status, name
        rows = [deployments[-1]] if newest_only else deployments
        recorded_rows = [recorded] if newest_only else recorded
        assert len(rows) == len(recorded_rows), name
        for row, rec in zip(rows, recorded_rows, strict=True):
            for fname, value in zip(fields, rec, strict=True):
                if fname in ("startedAt", "finishedAt"):
                    assert (row[fname] is None) == (value is None), f"{name}: {fname}"
                else:
                    assert row[fname] == value, f"{name}: {fname}"


def test_captures_are_the_shared_recordings() -> None:
    if not SHARED_CAPTURES.is_dir():
        pytest.skip("shared/dokploy/captures not present")
    for path in SHARED_CAPTURES.iterdir():
        assert (CAPTURES / path.name).read_bytes() == path.read_bytes(), path.name


def test_replay_every_capture(key: str) -> None:
    srv = FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0.05, deploy_duration=0.05)
    srv.start()
    rp = Replayer(srv, key)
    try:
        r = rp.check("project-create")
        rp.learn("project-create", r)
        r = rp.check("compose-create")
        rp.learn("compose-create", r)
        stack_id = rp.ids["axJJ3PtyFzMKmnD6rjVBm"]
        rp.check("compose-update")
        rp.check("compose-deploy")
        assert srv.wait_idle(10)
        rp.check("compose-one")
        rp.check("deployment-allByCompose")
        rp.check("deployment-allByType")
        rp.check("compose-loadServices")
        rp.check("deployment-queueList")

        # errors that do not change anything
        rp.check("err-nokey-project-all")
        rp.check("err-badkey-project-all", key=secrets.token_urlsafe(24))
        rp.check("err-unknown-route")
        rp.check("err-wrong-method")
        rp.check("err-validation-compose-create")
        rp.check("err-validation-compose-update")
        rp.check("err-validation-project-create")
        rp.check("err-notfound-compose-one")
        rp.check("err-notfound-compose-deploy")
        rp.check("err-notfound-compose-update")
        rp.check("err-notfound-project-one")
        rp.check("trpc-native-project-all")
        bad = requests.post(f"{srv.base_url}/api/project.create", data=b'{"name": "x",', timeout=10,
                            headers={"x-api-key": key, "Content-Type": "application/json"})
        rp.check("err-invalid-json", bad)
        srv.faults.rate_limited = True
        rp.check("err-ratelimited-key", requests.get(f"{srv.base_url}/api/project.all", headers={"x-api-key": key}, timeout=10))
        assert requests.get(f"{srv.base_url}/api/project.all", headers={"x-api-key": key}, timeout=10).json() == {"message": "Unauthorized"}
        srv.faults.rate_limited = False

        rp.check("compose-redeploy")
        assert srv.wait_idle(10)
        rp.check_poll("redeploy-poll", stack_id, ("status", "title"), newest_only=False)

        # the failing / slow compose
        r = rp.check("compose-create-2")
        rp.learn("compose-create-2", r)
        fail_id = rp.ids["aUQqyh0M4mzCEVrD42YhL"]
        srv.faults.deploy_outcome_for["bb-fail-slow"] = "error"
        rp.check("compose-deploy-fail")
        assert srv.wait_idle(10)
        rp.check_poll("deploy-fail-poll", fail_id, ("status", "title", "errorMessage"), newest_only=False)
        rp.check("compose-update-slow")

        srv.faults.deploy_duration = 0.6
        rp.check("compose-deploy-slow")
        wait_for(lambda: len(rp.poll_state(fail_id)[1]) == 2)
        rp.check_poll("deploy-slow-poll", fail_id, ("status", "title", "startedAt", "finishedAt"), newest_only=False, line=0)
        assert srv.wait_idle(10)
        rp.check_poll("deploy-slow-poll", fail_id, ("status", "title", "startedAt", "finishedAt"), newest_only=False)

        del srv.faults.deploy_outcome_for["bb-fail-slow"]
        rp.check("compose-redeploy-slow")
        wait_for(lambda: len(rp.poll_state(fail_id)[1]) == 3)
        rp.check_poll("redeploy-slow-poll", fail_id, ("status", "title", "finishedAt"), newest_only=True, line=0)
        assert srv.wait_idle(10)
        rp.check_poll("redeploy-slow-poll", fail_id, ("status", "title", "finishedAt"), newest_only=True)

        # deletes
        rp.check("err-validation-compose-delete")  # no deleteVolumes: coerced to false, deletes
        rp.check("compose-delete")
        rp.check("err-notfound-after-delete")
        rp.check("err-notfound-compose-delete")
        rp.check("compose-delete-first")
        rp.check("compose-one-after-delete")
    finally:
        srv.stop()
    recorded = {p.stem for p in CAPTURES.glob("*.txt")}
    assert recorded - rp.used == set(), "captures not replayed"


# -- validation ---------------------------------------------------------------------------------


def issues_of(r: requests.Response) -> list[dict[str, Any]]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["message"] == "Input validation failed" and body["code"] == "BAD_REQUEST"
    assert body["data"]["code"] == "BAD_REQUEST" and body["data"]["httpStatus"] == 400
    fields: dict[str, list[str]] = {}
    for issue in body["issues"]:
        fields.setdefault(str(issue["path"][0]), []).append(issue["message"])
    assert body["data"]["zodError"] == {"formErrors": [], "fieldErrors": fields}
    return body["issues"]


def test_validation_rejects_what_dokploy_rejects(api: Api) -> None:
    env_id, cid = make_compose(api)
    assert issues_of(api.post("compose.create", {})) == [
        {"expected": "string", "code": "invalid_type", "path": ["name"], "message": "Invalid input: expected string, received undefined"},
        {"expected": "string", "code": "invalid_type", "path": ["environmentId"],
         "message": "Invalid input: expected string, received undefined"},
    ]
    assert issues_of(api.post("compose.create", {"name": "", "environmentId": env_id})) == [
        {"origin": "string", "code": "too_small", "minimum": 1, "inclusive": True, "path": ["name"],
         "message": "Too small: expected string to have >=1 characters"}]
    [issue] = issues_of(api.post("compose.create", {"name": "a", "environmentId": env_id, "appName": "bad name"}))
    assert issue["code"] == "invalid_format"
    assert issue["message"] == "App name can only contain letters, numbers, dots, underscores and hyphens"
    [issue] = issues_of(api.post("compose.update", {"composeId": cid, "name": None}))
    assert issue["message"] == "Invalid input: expected string, received null"
    [issue] = issues_of(api.post("compose.update", {"composeId": cid, "description": 5}))
    assert issue == {"expected": "string", "code": "invalid_type", "path": ["description"],
                     "message": "Invalid input: expected string, received number"}
    [issue] = issues_of(api.post("compose.update", {"composeId": cid, "watchPaths": "src"}))
    assert issue["message"] == "Invalid input: expected array, received string"
    [issue] = issues_of(api.post("compose.update", {"composeId": cid, "serviceNetworks": [{"serviceName": 1, "networkIds": []}]}))
    assert issue["path"] == ["serviceNetworks", 0, "serviceName"]  # the missing boolean is coerced to false
    [issue] = issues_of(api.get("deployment.readLogs", deploymentId="x", tail="abc"))
    assert issue == {"expected": "number", "code": "invalid_type", "received": "NaN", "path": ["tail"],
                     "message": "Invalid input: expected number, received NaN"}
    assert issues_of(api.get("deployment.readLogs", deploymentId="x", tail="0"))[0]["message"] == "Too small: expected number to be >=1"
    too_big = issues_of(api.get("deployment.readLogs", deploymentId="x", tail="10001"))[0]
    assert too_big["message"] == "Too big: expected number to be <=10000"
    assert issues_of(api.get("deployment.readLogs", deploymentId="x", tail="1.5"))[0]["expected"] == "int"
    [issue] = issues_of(api.get("deployment.allByType", id="x", type="bogus"))
    assert issue["code"] == "invalid_value" and issue["values"][0] == "application"
    body = {"registryName": "r", "username": "u", "password": "p", "registryUrl": "", "registryType": "selfHosted"}
    got = {i["path"][0]: i["message"] for i in issues_of(api.post("registry.create", body))}
    assert got == {"registryType": 'Invalid input: expected "cloud"',
                   "imagePrefix": "Invalid input: expected nonoptional, received undefined"}
    assert issues_of(api.post("compose.deploy", {}))[0]["path"] == ["composeId"]
    assert issues_of(api.post("compose.deploy", [1]))[0]["path"] == ["composeId"]  # {...[1]} -> {"0": 1}
    assert issues_of(api.get("compose.one"))[0]["message"] == "Invalid input: expected string, received undefined"


def test_transport_errors(api: Api, srv: FakeDokploy) -> None:
    url = f"{srv.base_url}/api/compose.deploy"
    r = requests.post(url, data=b"{}", headers={"x-api-key": api.key}, timeout=10)
    assert r.status_code == 415 and r.json() == {"message": "Missing content-type header", "code": "UNSUPPORTED_MEDIA_TYPE",
                                                 "data": {"code": "UNSUPPORTED_MEDIA_TYPE", "httpStatus": 415, "path": "compose.deploy",
                                                          "zodError": None}}
    r = requests.post(url, data=b"{}", headers={"x-api-key": api.key, "Content-Type": "text/plain"}, timeout=10)
    assert r.json()["message"] == 'Unsupported content-type "text/plain'
    assert requests.post(url, data=b"{}", headers={"Content-Type": "text/plain"}, timeout=10).status_code == 401  # auth first
    r = requests.post(url, data=b"x" * (1024 * 1024 + 1), headers={"x-api-key": api.key, "Content-Type": "application/json"}, timeout=10)
    assert (r.status_code, r.text) == (413, "Body exceeded 1mb limit")
    assert api.post("compose.one", {"composeId": "x"}).json()["message"] == "Not found"  # wrong method
    assert api.get("COMPOSE.ONE", composeId="nope").json()["message"] == "Compose not found"  # case-insensitive routes
    assert requests.head(f"{srv.base_url}/api/whatever", headers={"x-api-key": api.key}, timeout=10).status_code == 204
    assert requests.get(f"{srv.base_url}/api/health", timeout=10).json() == {"ok": True}
    assert api.get("settings.getDokployVersion").json() == "v0.30.2"
    r = api.post("compose.isolatedDeployment", {"composeId": "x"})
    assert r.status_code == 501 and r.json()["code"] == "NOT_IMPLEMENTED"  # validated, then honestly not implemented


def test_coercion_defaults_and_stripping(api: Api, srv: FakeDokploy) -> None:
    _, cid = make_compose(api)
    row = api.ok("POST", "compose.update", {"composeId": cid, "randomize": "false", "createEnvFile": 0, "autoDeploy": None,
                                            "gitlabProjectId": "42", "unknownKey": 1})
    assert row["randomize"] is True and row["createEnvFile"] is False and row["autoDeploy"] is None  # Boolean("false") is true
    assert row["gitlabProjectId"] == 42 and "unknownKey" not in row
    assert issues_of(api.post("compose.update", {"composeId": cid, "gitlabProjectId": "abc"}))[0]["received"] == "NaN"
    assert api.ok("POST", "compose.saveEnvironment", {"composeId": cid, "env": "A=1", "createEnvFile": None}) is True
    one = api.ok("GET", "compose.one", composeId=cid)
    assert (one["env"], one["createEnvFile"]) == ("A=1", False)  # null -> false
    api.ok("POST", "compose.saveEnvironment", {"composeId": cid, "env": None, "createEnvFile": "yes"})
    api.ok("POST", "compose.saveEnvironment", {"composeId": cid, "env": "B=2"})  # absent createEnvFile: kept
    one = api.ok("GET", "compose.one", composeId=cid)
    assert (one["env"], one["createEnvFile"]) == ("B=2", True)
    assert api.post("compose.saveEnvironment", {"composeId": "nope", "env": ""}).json()["message"] == "Error adding environment variables"
    api.ok("POST", "compose.update", {"composeId": cid, "appName": "changed"})
    assert api.ok("GET", "compose.one", composeId=cid)["appName"] == one["appName"]  # appName is immutable
    created = api.ok("POST", "compose.create", {"name": "Named", "environmentId": one["environmentId"], "appName": "My.App"})
    assert re.fullmatch(r"my\.app-[a-z0-9]{6}", created["appName"]) and created["sourceType"] == "github"


def test_other_compose_procedures(api: Api) -> None:
    _, cid = make_compose(api, "misc", "services:\n  api: {image: x}\n  db: {image: y}\n")
    app = api.ok("GET", "compose.one", composeId=cid)["appName"]
    assert api.ok("GET", "compose.getDefaultCommand", composeId=cid) == \
        f"docker compose -p {app} -f docker-compose.yml up -d --build --remove-orphans"
    assert api.get("compose.loadServices", composeId=cid).json()["message"] == "Services not found"  # nothing on disk yet
    assert api.ok("GET", "compose.loadServices", composeId=cid, type="fetch") == ["api", "db"]
    assert api.ok("POST", "compose.fetchSourceType", {"composeId": cid}) == "raw"
    assert api.ok("POST", "compose.start", {"composeId": cid}) is True
    assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "done"
    assert api.ok("POST", "compose.stop", {"composeId": cid}) is True
    assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "idle"
    assert api.post("compose.stop", {"composeId": "nope"}).status_code == 404
    r = api.post("compose.killBuild", {"composeId": cid})
    assert (r.status_code, r.content) == (200, b"")
    assert api.post("compose.cancelDeployment", {"composeId": cid}).json()["message"] == \
        "Deployment cancellation only available in cloud version"
    assert api.ok("POST", "compose.cleanQueues", {"composeId": cid}) == {"success": True, "message": "Queues cleaned successfully"}
    assert api.post("compose.update", {"composeId": cid, "environmentId": "nope"}).status_code == 500


def test_validators_are_cached_and_every_operation_maps_errors() -> None:
    index = get_index()
    assert index is get_index()
    op = index.find("compose.create")
    assert op is not None and index.validator(op) is index.validator(op)
    assert len(index.procedures()) > 500
    for name in index.procedures():
        op = index.find(name)
        assert op is not None
        issues: list[dict[str, Any]] = []
        try:
            index.parse(op, {"unexpected": [1, {"a": None}]})
        except ValidationFailed as exc:
            issues = exc.issues
        assert all(isinstance(i["message"], str) and "path" in i for i in issues), name


# -- projects, environments, registries ---------------------------------------------------------


def test_projects_and_environments(api: Api) -> None:
    created = api.ok("POST", "project.create", {"name": "p1"})
    pid, prod = created["project"]["projectId"], created["environment"]["environmentId"]
    assert created["project"]["description"] is None and created["environment"]["isDefault"] is True
    assert api.post("environment.create", {"name": "production", "projectId": pid}).json()["message"] == \
        "You cannot create a environment with the name 'production'"
    staging = api.ok("POST", "environment.create", {"name": "staging", "projectId": pid})
    assert staging["isDefault"] is False and staging["env"] == ""
    assert api.post("environment.create", {"name": "x", "projectId": "nope"}).status_code == 400
    comp = api.ok("POST", "compose.create", {"name": "c", "environmentId": staging["environmentId"]})
    one = api.ok("GET", "environment.one", environmentId=staging["environmentId"])
    assert [c["composeId"] for c in one["compose"]] == [comp["composeId"]] and one["project"]["projectId"] == pid
    assert [e["name"] for e in api.ok("GET", "environment.byProjectId", projectId=pid)] == ["production", "staging"]
    assert api.ok("GET", "environment.byProjectId", projectId="nope") == []
    assert api.post("environment.remove", {"environmentId": prod}).json()["message"] == "You cannot delete the default environment"
    r = api.post("environment.remove", {"environmentId": staging["environmentId"]})
    assert r.status_code == 400 and "active services" in r.json()["message"]
    assert api.get("environment.one", environmentId="nope").status_code == 404
    assert api.post("compose.create", {"name": "c", "environmentId": "nope"}).json()["message"] == "Environment not found"
    listed = api.ok("GET", "project.all")
    assert listed[0]["projectId"] == pid and listed[0]["environments"][1]["compose"][0] == {
        "composeId": comp["composeId"], "name": "c", "composeStatus": "idle"}
    project = api.ok("GET", "project.one", projectId=pid)
    assert project["environments"][1]["compose"][0]["appName"] == comp["appName"]
    assert api.ok("POST", "project.remove", {"projectId": pid})["projectId"] == pid  # cascades
    assert api.get("compose.one", composeId=comp["composeId"]).status_code == 404
    assert api.post("project.remove", {"projectId": pid}).status_code == 404


def test_registries(api: Api) -> None:
    body = {"registryName": "ghcr", "username": " me ", "password": "s3cret", "registryUrl": "ghcr.io", "registryType": "cloud",
            "imagePrefix": None}
    row = api.ok("POST", "registry.create", body)
    assert row["password"] == "s3cret" and row["username"] == "me"
    one = api.ok("GET", "registry.one", registryId=row["registryId"])
    assert "password" not in one and one["registryUrl"] == "ghcr.io"
    assert api.ok("GET", "registry.all")[0]["password"] == "s3cret"
    assert api.ok("POST", "registry.update", {"registryId": row["registryId"], "password": "new"}) is True
    assert api.ok("GET", "registry.all")[0]["password"] == "new"
    assert api.post("registry.create", {**body, "registryUrl": "https://ghcr.io/x"}).status_code == 400
    assert api.get("registry.one", registryId="nope").json()["message"] == "Registry not found"
    assert api.ok("POST", "registry.remove", {"registryId": row["registryId"]})["registryId"] == row["registryId"]
    assert api.post("registry.remove", {"registryId": row["registryId"]}).json()["message"] == "Error removing this registry"


def test_native_trpc_surface(api: Api, srv: FakeDokploy) -> None:
    base = f"{srv.base_url}/api/trpc"
    params = {"input": json.dumps({"json": {"composeId": "nope"}})}
    r = requests.get(f"{base}/compose.one", params=params, headers=api.headers(), timeout=10)
    assert r.status_code == 404 and r.json()["error"]["json"]["data"]["code"] == "NOT_FOUND"
    r = requests.post(f"{base}/project.create", json={"json": {"name": "n"}}, headers=api.headers(), timeout=10)
    assert r.json()["result"]["data"]["json"]["project"]["name"] == "n"
    r = requests.get(f"{base}/project.all", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["json"]["message"] == "UNAUTHORIZED"
    r = requests.get(f"{base}/project.all,settings.getDokployVersion", params={"batch": "1"}, headers=api.headers(), timeout=10)
    assert [item["result"]["data"]["json"] for item in r.json()][1] == "v0.30.2"


# -- the deploy queue ---------------------------------------------------------------------------


def test_deploys_of_one_compose_run_fifo_one_at_a_time(key: str) -> None:
    with FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0.02, deploy_duration=0.4, builds_concurrency=2) as srv:
        api = Api(srv.base_url, key)
        _, a = make_compose(api, "a")
        _, b = make_compose(api, "b")
        for title in ("a1", "a2", "a3"):
            api.ok("POST", "compose.deploy", {"composeId": a, "title": title})
        api.ok("POST", "compose.redeploy", {"composeId": b})
        jobs = api.ok("GET", "deployment.queueList")
        assert sorted(j["data"]["titleLog"] for j in jobs) == ["Rebuild deployment", "a1", "a2", "a3"]
        assert {j["state"] for j in jobs} <= {"waiting", "active"} and jobs[0]["servicePath"]["label"] == "Compose"
        assert srv.wait_idle(10)
        rows = api.ok("GET", "deployment.allByCompose", composeId=a)
        assert [r["title"] for r in rows] == ["a3", "a2", "a1"]  # newest first
        assert [d["title"] for d in api.ok("GET", "compose.one", composeId=a)["deployments"]] == ["a1", "a2", "a3"]  # oldest first
        for newer, older in itertools.pairwise(rows):
            assert older["finishedAt"] <= newer["startedAt"]  # never two runs of one compose at once
        other = api.ok("GET", "deployment.allByCompose", composeId=b)[0]
        assert other["title"] == "Rebuild deployment" and other["startedAt"] < rows[-1]["finishedAt"]  # ran in parallel
        assert api.ok("GET", "deployment.queueList") == []


def test_default_concurrency_serializes_composes(api: Api, srv: FakeDokploy) -> None:
    srv.faults.deploy_duration = 0.1
    _, a = make_compose(api, "a")
    _, b = make_compose(api, "b")
    api.ok("POST", "compose.deploy", {"composeId": a})
    api.ok("POST", "compose.deploy", {"composeId": b})
    assert srv.wait_idle(10)
    ra = api.ok("GET", "deployment.allByCompose", composeId=a)[0]
    rb = api.ok("GET", "deployment.allByCompose", composeId=b)[0]
    assert ra["finishedAt"] <= rb["startedAt"]


def test_status_race_right_after_deploy(key: str) -> None:
    with FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0.3, deploy_duration=0.2) as srv:
        api = Api(srv.base_url, key)
        _, cid = make_compose(api)
        api.ok("POST", "compose.deploy", {"composeId": cid})
        assert srv.wait_idle(10)
        assert api.ok("POST", "compose.deploy", {"composeId": cid, "title": "second"}) == {
            "success": True, "message": "Deployment queued", "composeId": cid}
        one = api.ok("GET", "compose.one", composeId=cid)
        assert one["composeStatus"] == "done" and len(one["deployments"]) == 1  # still the previous deploy
        running = wait_for(lambda: (o := api.ok("GET", "compose.one", composeId=cid))["composeStatus"] == "running" and o)
        assert running["deployments"][-1]["status"] == "running" and running["deployments"][-1]["finishedAt"] is None
        assert srv.wait_idle(10)
        last = api.ok("GET", "deployment.allByCompose", composeId=cid)[0]
        assert (last["title"], last["status"], last["errorMessage"]) == ("second", "done", None)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", last["finishedAt"])


def test_at_most_eleven_deployments_are_kept(key: str) -> None:
    with FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0, deploy_duration=0) as srv:
        api = Api(srv.base_url, key)
        _, cid = make_compose(api)
        for i in range(1, 14):
            api.ok("POST", "compose.deploy", {"composeId": cid, "title": f"d{i}"})
        assert srv.wait_idle(10)
        rows = api.ok("GET", "deployment.allByCompose", composeId=cid)
        assert [r["title"] for r in rows] == [f"d{i}" for i in range(13, 2, -1)]
        assert len(srv.state.deployments) == 11


# -- faults -------------------------------------------------------------------------------------


def test_fault_http_status(api: Api, srv: FakeDokploy) -> None:
    _, cid = make_compose(api)
    srv.faults.fail_next("compose.deploy", status=502, times=2)
    for _ in range(2):
        r = api.post("compose.deploy", {"composeId": cid})
        assert (r.status_code, r.text) == (502, "Bad Gateway")
    assert api.post("compose.deploy", {"composeId": cid}).status_code == 200
    srv.faults.fail_next("compose.one", status=500)
    assert api.get("compose.one", composeId=cid).json() == {
        "message": "Internal server error", "code": "INTERNAL_SERVER_ERROR",
        "data": {"code": "INTERNAL_SERVER_ERROR", "httpStatus": 500, "path": "compose.one", "zodError": None}}
    srv.faults.fail_next("compose.deploy", status=503, apply=True)  # the deploy happens, the answer is lost
    assert api.post("compose.deploy", {"composeId": cid}).status_code == 503
    assert srv.wait_idle(10)
    assert len(api.ok("GET", "deployment.allByCompose", composeId=cid)) == 2
    statuses = [c[2] for c in srv.calls if c[1] == "compose.deploy"]
    assert statuses == [502, 502, 200, 503]


def test_fault_delay(api: Api, srv: FakeDokploy) -> None:
    srv.faults.delay("project.all", seconds=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get("project.all", timeout=0.2)
    t0 = time.monotonic()
    assert api.get("project.all").status_code == 200
    assert time.monotonic() - t0 < 0.5


def test_fault_rate_limited_key(api: Api, srv: FakeDokploy) -> None:
    srv.faults.rate_limited = True
    for r in (api.get("project.all"), api.post("compose.deploy", {"composeId": "x"}), api.get("nope.nope")):
        assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
    assert requests.get(f"{srv.base_url}/api/health", timeout=10).status_code == 200
    assert api.control("POST", "faults", {"rate_limited": False}).status_code == 200
    assert api.get("project.all").status_code == 200


def test_fault_deploy_error(api: Api, srv: FakeDokploy) -> None:
    _, cid = make_compose(api)
    srv.faults.deploy_outcome = "error"
    srv.faults.deploy_error_log_line = "pull access denied for nope"
    api.ok("POST", "compose.deploy", {"composeId": cid})
    assert srv.wait_idle(10)
    row = api.ok("GET", "deployment.allByCompose", composeId=cid)[0]
    assert (row["status"], row["errorMessage"]) == ("error", None) and row["finishedAt"]
    assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "error"
    logs = api.ok("GET", "deployment.readLogs", deploymentId=row["deploymentId"])
    assert logs.splitlines() == ["Initializing deployment", "pull access denied for nope"]
    assert api.ok("GET", "deployment.readLogs", deploymentId=row["deploymentId"], tail=1) == "pull access denied for nope\n"
    assert api.get("deployment.readLogs", deploymentId="nope").json()["message"] == "Deployment not found"


def test_stuck_deploy_and_restart(api: Api, srv: FakeDokploy) -> None:
    _, cid = make_compose(api)
    srv.faults.deploy_outcome = "stuck"
    api.ok("POST", "compose.deploy", {"composeId": cid, "title": "stuck"})
    api.ok("POST", "compose.deploy", {"composeId": cid, "title": "waiting"})
    wait_for(lambda: api.ok("GET", "deployment.allByCompose", composeId=cid))
    assert not srv.wait_idle(0.3)
    jobs = api.ok("GET", "deployment.queueList")
    assert sorted(j["state"] for j in jobs) == ["active", "waiting"]
    [row] = api.ok("GET", "deployment.allByCompose", composeId=cid)
    cancelled = srv.restart()
    assert cancelled == [row["deploymentId"]]
    [row] = api.ok("GET", "deployment.allByCompose", composeId=cid)
    assert row["status"] == "cancelled" and row["finishedAt"] is None  # initCancelDeployments sets the status only
    assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "idle"
    assert api.ok("GET", "deployment.queueList") == [] and srv.wait_idle(1)  # the waiting job vanished
    srv.faults.deploy_outcome = None
    api.ok("POST", "compose.deploy", {"composeId": cid, "title": "after restart"})
    assert srv.wait_idle(10)
    assert [r["status"] for r in api.ok("GET", "deployment.allByCompose", composeId=cid)] == ["done", "cancelled"]


def test_restart_with_downtime(api: Api, srv: FakeDokploy) -> None:
    port = srv.port
    t = threading.Thread(target=srv.restart, kwargs={"downtime": 0.5})
    t.start()
    time.sleep(0.2)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{srv.base_url}/api/health", timeout=1)
    t.join()
    assert srv.port == port and api.get("project.all").status_code == 200


def test_control_endpoints_and_call_counts(api: Api, srv: FakeDokploy) -> None:
    assert Api(srv.base_url, "wrong").control("GET", "faults").status_code == 401
    r = api.control("POST", "faults", {"fail_next": {"procedure": "project.all", "status": 503}, "deploy_outcome_for": {"x": "error"}})
    assert r.json()["deploy_outcome_for"] == {"x": "error"}
    assert api.get("project.all").status_code == 503
    assert api.control("POST", "faults", {"deploy_outcome": "bogus"}).status_code == 400
    api.post("project.create", {"name": "n"})
    api.post("project.create", {})
    calls = api.control("GET", "calls").json()
    assert calls["calls"][-2:] == [["POST", "project.create", 200], ["POST", "project.create", 400]]
    assert calls["write_calls"] == 2 == srv.write_calls
    assert api.control("POST", "calls/reset").json() == {"ok": True}
    assert srv.calls == [] and srv.write_calls == 0
    assert api.control("GET", "idle").json() == {"idle": True}
    assert api.control("POST", "restart").json() == {"ok": True, "cancelled": []}
    api.control("POST", "faults", {"clear": True})
    assert srv.faults.deploy_outcome_for == {}


def test_state_file_survives_a_restart(key: str, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    first = FakeDokploy(api_keys={key}, latency=0, state_file=state_file, deploy_start_delay=0)
    first.start()
    api = Api(first.base_url, key)
    _, cid = make_compose(api)
    first.faults.deploy_outcome = "stuck"
    api.ok("POST", "compose.deploy", {"composeId": cid})
    wait_for(lambda: api.ok("GET", "deployment.allByCompose", composeId=cid))
    first.stop()
    assert json.loads(state_file.read_text())["deployments"][0]["status"] == "running"
    assert state_file.stat().st_mode & 0o077 == 0

    with FakeDokploy(api_keys={key}, latency=0, state_file=state_file) as second:
        api = Api(second.base_url, key)
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "idle"
        [row] = api.ok("GET", "deployment.allByCompose", composeId=cid)
        assert row["status"] == "cancelled"
        assert api.ok("GET", "project.all")[0]["environments"][0]["compose"][0]["composeId"] == cid


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_refuses_non_loopback_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOKPLOY_TEST_KEY", "k")
    with pytest.raises(SystemExit) as exc:
        cli_main(["--host", "0.0.0.0", "--api-key-env", "FAKE_DOKPLOY_TEST_KEY"])
    assert exc.value.code == 2
    monkeypatch.delenv("FAKE_DOKPLOY_TEST_KEY")
    with pytest.raises(SystemExit):
        cli_main(["--api-key-env", "FAKE_DOKPLOY_TEST_KEY"])
    with pytest.raises(ValueError):
        FakeDokploy(api_keys={"k"}, host="0.0.0.0")


def test_cli_serves_and_never_prints_the_key(key: str, tmp_path: Path) -> None:
    port = ports.free_port()
    env = {**os.environ, "FAKE_DOKPLOY_TEST_KEY": key, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "testkit.dokploy", "--port", str(port), "--api-key-env", "FAKE_DOKPLOY_TEST_KEY",
                             "--state-file", str(tmp_path / "s.json"), "--latency", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        api = Api(f"http://127.0.0.1:{port}", key)
        wait_for(lambda: _answers(api), timeout=20)
        assert api.post("project.create", {"name": "cli"}).status_code == 200
        assert api.get("project.all").json()[0]["name"] == "cli"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert key not in out.decode() and b"listening on" in out
    assert json.loads((tmp_path / "s.json").read_text())["projects"][0]["name"] == "cli"


def _answers(api: Api) -> bool:
    try:
        return requests.get(f"{api.base}/api/health", timeout=0.5).ok
    except requests.ConnectionError:
        return False


# -- real docker --------------------------------------------------------------------------------


def _docker_ok() -> bool:
    try:
        return shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


docker_only = pytest.mark.skipif(not _docker_ok(), reason="needs a running Docker Engine")


def sh(*args: str, check: bool = True) -> str:
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def bb_image(tmp_path_factory: pytest.TempPathFactory):
    """A tiny FROM-scratch image: static busybox serving /www with httpd."""
    if not _docker_ok():
        pytest.skip("needs a running Docker Engine")
    ctx = tmp_path_factory.mktemp("bb")
    shutil.copy("/bin/busybox", ctx / "busybox")
    (ctx / "www").mkdir()
    (ctx / "www" / "index.html").write_text("hello from the stand-in\n")
    (ctx / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /busybox\nCOPY www /www\nCMD ["/busybox","httpd","-f","-p","8080","-h","/www"]\n')
    tag = f"fake-dokploy-test/bb:{secrets.token_hex(4)}"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], env={**os.environ, "DOCKER_BUILDKIT": "0"}, check=True,
                   capture_output=True, timeout=300)
    yield tag
    sh("docker", "rmi", "-f", tag, check=False)


@pytest.fixture
def docker_srv(key: str, tmp_path: Path):
    srv = FakeDokploy(api_keys={key}, latency=0, docker=True, work_dir=tmp_path / "dokploy", deploy_start_delay=0.05)
    srv.start()
    yield srv
    srv.stop()
    for row in srv.state.composes.values():  # whatever a failed test left behind
        sh("docker", "compose", "-p", row["appName"], "down", "--volumes", "--remove-orphans", check=False)


def project_containers(app_name: str, all_states: bool = True) -> list[str]:
    args = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={app_name}"]
    return sh(*([*args, "-a"] if all_states else args)).split()


@docker_only
def test_docker_deploy_starts_a_real_container(docker_srv: FakeDokploy, key: str, bb_image: str) -> None:
    api = Api(docker_srv.base_url, key)
    compose_file = (
        "services:\n"
        "  web:\n"
        f"    image: {bb_image}\n"
        "    stop_grace_period: 1s\n"  # busybox httpd as PID 1 ignores SIGTERM
        "    environment:\n"
        "      GREETING: ${GREETING}\n"
        "    networks: [dokploy-network]\n"
        "networks:\n"
        "  dokploy-network:\n"
        "    external: true\n"
    )
    _, cid = make_compose(api, "web", compose_file)
    app = api.ok("GET", "compose.one", composeId=cid)["appName"]
    try:
        api.ok("POST", "compose.saveEnvironment", {"composeId": cid, "env": 'GREETING="hello fake"\n'})
        api.ok("POST", "compose.deploy", {"composeId": cid})
        assert docker_srv.wait_idle(120)
        row = api.ok("GET", "deployment.allByCompose", composeId=cid)[0]
        logs = api.ok("GET", "deployment.readLogs", deploymentId=row["deploymentId"], tail=1000)
        assert row["status"] == "done", logs
        assert "Docker Compose Deployed: ✅" in logs and Path(row["logPath"]).read_text() == logs
        code = docker_srv.docker_runner.code_dir(app)
        # Dokploy rewrites the file a deploy runs (writeDomainsToCompose: parsed, domains' labels added, stringified): the same data
        assert yaml.safe_load((code / "docker-compose.yml").read_text()) == yaml.safe_load(compose_file)
        env_lines = (code / ".env").read_text().splitlines()
        # prepareEnvironmentVariablesForFile: parsed, then written again as KEY="..." (\\ " $ escaped)
        assert env_lines[:3] == [f'APP_NAME="{app}"', f'COMPOSE_PROJECT_NAME="{app}"', 'GREETING="hello fake"']
        assert env_lines[3].startswith('DOCKER_CONFIG="')
        [cont] = project_containers(app, all_states=False)
        assert "GREETING=hello fake" in sh("docker", "inspect", "-f", "{{json .Config.Env}}", cont)
        assert sh("docker", "exec", cont, "/busybox", "wget", "-qO-", "http://127.0.0.1:8080/") == "hello from the stand-in"
        assert api.ok("GET", "compose.loadServices", composeId=cid) == ["web"]

        assert api.ok("POST", "compose.stop", {"composeId": cid}) is True
        assert project_containers(app, all_states=False) == [] and api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "idle"
        assert api.ok("POST", "compose.start", {"composeId": cid}) is True
        assert len(project_containers(app, all_states=False)) == 1
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "done"

        deleted = api.ok("POST", "compose.delete", {"composeId": cid, "deleteVolumes": True})
        assert deleted["appName"] == app and deleted["deployments"][0]["status"] == "done"
        assert project_containers(app) == [] and not docker_srv.docker_runner.app_dir(app).exists()
    finally:
        sh("docker", "compose", "-p", app, "down", "--volumes", "--remove-orphans", check=False)


@docker_only
def test_docker_deploy_failure_ends_in_error_with_compose_output(docker_srv: FakeDokploy, key: str) -> None:
    api = Api(docker_srv.base_url, key)
    image = f"127.0.0.1:5000/fake-dokploy-test/does-not-exist-{secrets.token_hex(3)}:1"
    _, cid = make_compose(api, "broken", f"services:\n  a:\n    image: {image}\n")
    app = api.ok("GET", "compose.one", composeId=cid)["appName"]
    try:
        api.ok("POST", "compose.deploy", {"composeId": cid})
        assert docker_srv.wait_idle(120)
        row = api.ok("GET", "deployment.allByCompose", composeId=cid)[0]
        assert (row["status"], row["errorMessage"]) == ("error", None)
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "error"
        logs = api.ok("GET", "deployment.readLogs", deploymentId=row["deploymentId"], tail=1000)
        assert "does-not-exist" in logs and "Error occurred ❌, check the logs for details." in logs
    finally:
        api.post("compose.delete", {"composeId": cid, "deleteVolumes": True})
        sh("docker", "compose", "-p", app, "down", "--volumes", "--remove-orphans", check=False)


@docker_only
def test_docker_registry_login(docker_srv: FakeDokploy, key: str) -> None:
    api = Api(docker_srv.base_url, key)
    body = {"registryName": "local", "username": "ci", "password": secrets.token_hex(8), "registryUrl": "127.0.0.1:5000",
            "registryType": "cloud", "imagePrefix": None}
    reachable = subprocess.run(["curl", "-fsS", "http://127.0.0.1:5000/v2/"], capture_output=True).returncode == 0
    if reachable:
        row = api.ok("POST", "registry.create", body)
        config = json.loads((docker_srv.docker_runner.docker_config / "config.json").read_text())
        assert "127.0.0.1:5000" in config["auths"]
        api.ok("POST", "registry.remove", {"registryId": row["registryId"]})
    r = api.post("registry.create", {**body, "registryUrl": "127.0.0.1:1"})
    assert r.status_code == 400 and "connection refused" in r.json()["message"]
    assert body["password"] not in r.text
    assert api.ok("GET", "registry.all") == []
