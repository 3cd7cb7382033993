"""In-memory database of the Dokploy v0.30.2 STAND-IN: rows shaped like Dokploy's drizzle rows.

Column order, defaults and relation shapes follow the captured responses of a real v0.30.2
(shared/dokploy/captures) and Dokploy's source. Optional JSON persistence: with a state file,
``save()`` writes the whole database atomically after every write.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

NANOID_ALPHABET = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"
APPNAME_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
GENERATED_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz123456789"

# faker's hacker word lists (Dokploy's generateAppName)
HACKER_VERBS = ["back up", "bypass", "hack", "override", "compress", "copy", "navigate", "index", "connect", "generate",
                "quantify", "calculate", "synthesize", "input", "transmit", "program", "reboot", "parse"]
HACKER_ADJECTIVES = ["auxiliary", "primary", "back-end", "digital", "open-source", "virtual", "cross-platform", "redundant",
                     "online", "haptic", "multi-byte", "bluetooth", "wireless", "1080p", "neural", "optical", "solid state", "mobile"]
HACKER_NOUNS = ["driver", "protocol", "bandwidth", "panel", "microchip", "program", "port", "card", "array", "interface",
                "system", "sensor", "firewall", "hard drive", "pixel", "alarm", "feed", "monitor", "application",
                "transmitter", "bus", "circuit", "capacitor", "matrix"]

MAX_KEPT_BEFORE_INSERT = 10  # removeLastTenDeployments: keep 10, then insert -> at most 11 rows


def nanoid(size: int = 21) -> str:
    return "".join(secrets.choice(NANOID_ALPHABET) for _ in range(size))


def now_iso() -> str:
    """`new Date().toISOString()`: UTC, milliseconds, trailing Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_app_name(given: str | None) -> str:
    """`buildAppName("compose", appName)` of Dokploy."""
    if given:
        suffix = "".join(secrets.choice(APPNAME_SUFFIX_ALPHABET) for _ in range(6))
        return f"{given.strip().replace(' ', '-').lower()}-{suffix}"
    words = [secrets.choice(lst).replace(" ", "-") for lst in (HACKER_VERBS, HACKER_ADJECTIVES, HACKER_NOUNS)]
    suffix = "".join(secrets.choice(GENERATED_SUFFIX_ALPHABET) for _ in range(6))
    return "compose-" + "-".join(words) + f"-{suffix}"


def compose_row(compose_id: str, name: str, app_name: str, environment_id: str) -> dict[str, Any]:
    """A new compose row with the column order and defaults of Dokploy v0.30.2."""
    return {
        "composeId": compose_id, "name": name, "appName": app_name, "description": None, "env": None,
        "composeFile": "", "refreshToken": nanoid(), "sourceType": "github", "composeType": "docker-compose",
        "repository": None, "owner": None, "branch": None, "autoDeploy": True,
        "gitlabProjectId": None, "gitlabRepository": None, "gitlabOwner": None, "gitlabBranch": None, "gitlabPathNamespace": None,
        "bitbucketRepository": None, "bitbucketRepositorySlug": None, "bitbucketOwner": None, "bitbucketBranch": None,
        "giteaRepository": None, "giteaOwner": None, "giteaBranch": None,
        "customGitUrl": None, "customGitBranch": None, "customGitSSHKeyId": None,
        "command": "", "createEnvFile": True, "enableSubmodules": False, "composePath": "./docker-compose.yml", "suffix": "",
        "randomize": False, "isolatedDeployment": False, "isolatedDeploymentsVolume": False, "triggerType": "push",
        "composeStatus": "idle", "icon": None, "environmentId": environment_id, "createdAt": now_iso(), "watchPaths": None,
        "githubId": None, "gitlabId": None, "bitbucketId": None, "giteaId": None, "serverId": None, "serviceNetworks": [],
    }


def deployment_row(compose_id: str, title: str, description: str, log_path: str) -> dict[str, Any]:
    ts = now_iso()
    return {
        "deploymentId": nanoid(), "title": title, "description": description, "status": "running", "logPath": log_path,
        "pid": None, "applicationId": None, "composeId": compose_id, "serverId": None, "isPreviewDeployment": False,
        "previewDeploymentId": None, "createdAt": ts, "startedAt": ts, "finishedAt": None, "errorMessage": None,
        "scheduleId": None, "backupId": None, "rollbackId": None, "volumeBackupId": None, "buildServerId": None,
    }


_EMPTY_SERVICES = ("applications", "mariadb", "mongo", "mysql", "postgres", "redis")


class State:
    """Projects, environments, composes, deployments, registries and servers of one organization.

    Every access goes through ``lock`` (an RLock); ``write()`` is the lock plus a save.
    Dicts keep insertion (= creation) order. ``logs`` holds deployment log text by deploymentId;
    ``disk`` the compose file as last written for a deploy (what ``loadServices`` reads).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.organization_id = nanoid()
        self.projects: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.composes: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.registries: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, dict[str, Any]] = {}
        self.domains: dict[str, dict[str, Any]] = {}
        self.domain_seq = 0  # the domain table's serial uniqueConfigKey (never reused, like a Postgres sequence)
        self.registry_logins: dict[str, list[str]] = {}  # registryId -> serverIds its docker login ran on ("" = Dokploy host)
        self.logs: dict[str, str] = {}
        self.disk: dict[str, str] = {}

    # -- persistence --------------------------------------------------------------------------

    _TABLES: ClassVar[tuple[str, ...]] = ("projects", "environments", "composes", "deployments", "registries", "servers", "domains")
    _ID_KEYS: ClassVar[dict[str, str]] = {"projects": "projectId", "environments": "environmentId", "composes": "composeId",
                "deployments": "deploymentId", "registries": "registryId", "servers": "serverId", "domains": "domainId"}

    def load(self) -> bool:
        """Read the state file if it exists. Returns True when something was loaded."""
        if not self.path or not self.path.exists():
            return False
        data = json.loads(self.path.read_text(encoding="utf-8"))
        with self.lock:
            self.organization_id = data.get("organizationId") or self.organization_id
            for table in self._TABLES:
                key = self._ID_KEYS[table]
                setattr(self, table, {row[key]: row for row in data.get(table, [])})
            self.logs = dict(data.get("logs", {}))
            self.disk = dict(data.get("disk", {}))
            self.registry_logins = dict(data.get("registryLogins", {}))
            self.domain_seq = int(data.get("domainSeq") or max((d["uniqueConfigKey"] for d in self.domains.values()), default=0))
        return True

    def save(self) -> None:
        if not self.path:
            return
        with self.lock:
            data: dict[str, Any] = {"version": 1, "organizationId": self.organization_id}
            for table in self._TABLES:
                data[table] = list(getattr(self, table).values())
            data["logs"] = self.logs
            data["disk"] = self.disk
            data["registryLogins"] = self.registry_logins
            data["domainSeq"] = self.domain_seq
            text = json.dumps(data, ensure_ascii=False, indent=1)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds env values and registry passwords
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self.lock:
            yield
            self.save()

    # -- helpers ------------------------------------------------------------------------------

    def compose_deployments(self, compose_id: str) -> list[dict[str, Any]]:
        """Deployment rows of a compose, oldest first (insertion order)."""
        return [d for d in self.deployments.values() if d["composeId"] == compose_id]

    def compose_by_name(self, name: str) -> dict[str, Any] | None:
        """First compose with that name (names are not unique in Dokploy). A copy."""
        with self.lock:
            for row in self.composes.values():
                if row["name"] == name:
                    return copy.deepcopy(row)
        return None

    def deployments_for(self, compose_id: str) -> list[dict[str, Any]]:
        """Deployment rows of a compose, newest first (like deployment.allByCompose). Copies."""
        with self.lock:
            return copy.deepcopy(list(reversed(self.compose_deployments(compose_id))))

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of every table (for tests)."""
        with self.lock:
            return copy.deepcopy({t: list(getattr(self, t).values()) for t in self._TABLES})

    def compose_domains(self, compose_id: str) -> list[dict[str, Any]]:
        """Domain rows of a compose, in creation order (copies)."""
        return [copy.deepcopy(d) for d in self.domains.values() if d["composeId"] == compose_id]

    def delete_compose_cascade(self, compose_id: str) -> None:
        self.composes.pop(compose_id, None)
        for domain_id in [d["domainId"] for d in self.domains.values() if d["composeId"] == compose_id]:
            self.domains.pop(domain_id, None)  # domain.composeId: ON DELETE CASCADE
        for dep_id in [d["deploymentId"] for d in self.compose_deployments(compose_id)]:
            self.deployments.pop(dep_id, None)
            self.logs.pop(dep_id, None)

    def delete_project_cascade(self, project_id: str) -> None:
        self.projects.pop(project_id, None)
        for env_id in [e["environmentId"] for e in self.environments.values() if e["projectId"] == project_id]:
            self.environments.pop(env_id, None)
            for cid in [c["composeId"] for c in self.composes.values() if c["environmentId"] == env_id]:
                self.delete_compose_cascade(cid)

    def insert_deployment(self, compose_id: str, title: str, description: str, log_path: str) -> dict[str, Any]:
        """createDeploymentCompose: drop all but the 10 newest rows, then insert a running row."""
        existing = self.compose_deployments(compose_id)
        for old in existing[: max(0, len(existing) - MAX_KEPT_BEFORE_INSERT)]:
            self.deployments.pop(old["deploymentId"], None)
            self.logs.pop(old["deploymentId"], None)
        row = deployment_row(compose_id, title, description, log_path)
        self.deployments[row["deploymentId"]] = row
        self.logs[row["deploymentId"]] = "Initializing deployment\n"
        return row

    def append_log(self, deployment_id: str, text: str) -> None:
        if deployment_id in self.logs:
            self.logs[deployment_id] += text

    def cancel_running(self) -> list[str]:
        """initCancelDeployments (a production build's start-up): running deployments become cancelled (status
        only: finishedAt stays null) and their composes idle. A compose "running" without a running row stays so."""
        cancelled = []
        for row in self.deployments.values():
            if row["status"] == "running":
                row["status"] = "cancelled"
                cancelled.append(row["deploymentId"])
                compose = self.composes.get(row["composeId"] or "")
                if compose is not None:
                    compose["composeStatus"] = "idle"
        return cancelled

    # -- response shapes ----------------------------------------------------------------------

    def server_ref(self, server_id: str | None, columns: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The `server` relation of a service: None, the listed columns, or (no columns) the whole row."""
        row = self.servers.get(server_id or "")
        if row is None:
            return None
        return {k: copy.deepcopy(row[k]) for k in columns} if columns else copy.deepcopy(row)

    def project_row(self, project_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.projects[project_id])

    def environment_row(self, env_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.environments[env_id])

    def _envs_of(self, project_id: str) -> list[dict[str, Any]]:
        return [e for e in self.environments.values() if e["projectId"] == project_id]

    def _composes_of(self, env_id: str) -> list[dict[str, Any]]:
        return [c for c in self.composes.values() if c["environmentId"] == env_id]

    def project_all(self) -> list[dict[str, Any]]:
        out = []
        for project in reversed(list(self.projects.values())):  # orderBy desc(createdAt)
            envs = []
            for env in self._envs_of(project["projectId"]):
                item: dict[str, Any] = {"name": env["name"], "environmentId": env["environmentId"], "isDefault": env["isDefault"]}
                for key in _EMPTY_SERVICES:
                    item[key] = []
                item["compose"] = [{"composeId": c["composeId"], "name": c["name"], "composeStatus": c["composeStatus"]}
                                   for c in self._composes_of(env["environmentId"])]
                item["libsql"] = []
                envs.append(item)
            out.append({**copy.deepcopy(project), "environments": envs, "projectTags": []})
        return out

    def project_one(self, project_id: str) -> dict[str, Any]:
        project = self.projects[project_id]
        envs = []
        for env in self._envs_of(project_id):
            item = {**copy.deepcopy(env), "applications": []}
            item["compose"] = [
                {"name": c["name"], "description": c["description"], "appName": c["appName"], "createdAt": c["createdAt"],
                 "serverId": c["serverId"], "composeId": c["composeId"], "composeStatus": c["composeStatus"],
                 "server": self.server_ref(c["serverId"], ("name",))}
                for c in self._composes_of(env["environmentId"])
            ]
            for key in ("libsql", "mariadb", "mongo", "mysql", "postgres", "redis"):
                item[key] = []
            envs.append(item)
        return {**copy.deepcopy(project), "environments": envs, "projectTags": []}

    def environment_one(self, env_id: str) -> dict[str, Any]:
        env = self.environments[env_id]
        out: dict[str, Any] = {k: copy.deepcopy(env[k]) for k in ("name", "description", "environmentId", "isDefault", "projectId", "env")}
        for key in _EMPTY_SERVICES:
            out[key] = []
        out["compose"] = [
            {"composeId": c["composeId"], "name": c["name"], "createdAt": c["createdAt"], "composeStatus": c["composeStatus"],
             "description": c["description"], "serverId": c["serverId"], "icon": c["icon"],
             "server": self.server_ref(c["serverId"], ("name", "serverId"))}
            for c in self._composes_of(env_id)
        ]
        out["libsql"] = []
        out["project"] = self.project_row(env["projectId"])
        return out

    def environments_by_project(self, project_id: str) -> list[dict[str, Any]]:
        out = []
        for env in self._envs_of(project_id):  # orderBy asc(createdAt)
            item: dict[str, Any] = {k: copy.deepcopy(env[k]) for k in ("name", "description", "environmentId", "isDefault")}
            for key in _EMPTY_SERVICES:
                item[key] = []
            item["compose"] = [
                {"name": c["name"], "description": c["description"], "appName": c["appName"], "createdAt": c["createdAt"],
                 "serverId": c["serverId"], "composeId": c["composeId"], "composeStatus": c["composeStatus"], "icon": c["icon"],
                 "server": self.server_ref(c["serverId"], ("name",))}
                for c in self._composes_of(env["environmentId"])
            ]
            item["libsql"] = []
            item["project"] = self.project_row(project_id)
            out.append(item)
        return out

    def compose_full(self, compose_id: str) -> dict[str, Any]:
        """findComposeById: the row plus its relations (deployments oldest first)."""
        compose = self.composes[compose_id]
        env = self.environments.get(compose["environmentId"])
        env_out = None
        if env is not None:
            env_out = {**copy.deepcopy(env), "project": self.project_row(env["projectId"]) if env["projectId"] in self.projects else None}
        return {
            **copy.deepcopy(compose),
            "environment": env_out,
            "deployments": copy.deepcopy(self.compose_deployments(compose_id)),
            "mounts": [], "domains": self.compose_domains(compose_id), "github": None, "gitlab": None, "bitbucket": None, "gitea": None,
            "server": self.server_ref(compose["serverId"]),
            "backups": [],
        }
