"""The provider of ComposeProject (components/compose_project.py): what each operation does and guarantees.

Guarantees:

* check: every input is validated; a failure names the property and never echoes a secret.
* diff: compares the stored outputs with the new inputs, then, when nothing differs there and the API key is
  at hand, reads Dokploy's view (one ``compose.one``): a compose file, env or type that is not what this update
  declares, a domain of a declared route edited, removed or added in Dokploy's UI (a change of ``routes``),
  or a last deployment that failed or was cancelled (a failed update with ``rollback_on_failure``
  off leaves Dokploy on the new file while the state keeps the old one), is a change that the update repairs,
  and a compose deleted in Dokploy is created again; so a plain ``pulumi up`` needs no ``--refresh``. Without
  a key (a pull request's preview) the stored outputs decide alone. The environment, compose name,
  compose type (compose mode or stack mode), the server (its name, or its id when both are known)
  and the Dokploy URL force a replacement (deleted before the new one is created, since both would be
  the same Dokploy compose, and Dokploy cannot move a compose to another server); compose file, env
  (by hash), services, health URLs and settings are updates. Unknown preview values count as changed.
* create: in the environment its DokployProject found or created, on the server the program
  resolved (``server_id``; "" = Dokploy's host), adopts a compose of the same name left by an
  earlier failed create (one on another server is an error, never adopted), else creates one;
  makes its domains the declared ``routes`` (Dokploy writes their Traefik labels when it deploys,
  so they exist before the first deploy), writes the YAML and the env, deploys once, waits, verifies.
  If it fails, the compose stays in Dokploy and the next ``pulumi up`` adopts it.
* update: writes only what differs (domains first: ``dokploy_api.domains``), deploys once (redeploy),
  waits, verifies; a change of routes alone is a redeploy too (the labels change only then). On
  failure with ``rollback_on_failure`` the previous domains, compose file and env (kept in state,
  env as a secret) are written back, redeployed and verified the same way before the error is raised.
  A failed update keeps the old state, so the next ``pulumi up`` tries again.
* verify (after every deploy, and once for a state that has no verification record): through
  Dokploy's API only (``probes.dokploy_runtime``), the compose project's containers (compose mode)
  or Swarm services and tasks (stack mode) run the images the compose file names, none of an
  older one still runs, each is healthy within ``health_timeout`` and stays up, healthy and
  unrestarted for ``stability_window`` seconds. The per-service record is the ``verification``
  output. ``health_urls``, when given, are then fetched from here as an extra reachability check,
  and every route answers its service's health path through the Dokploy host's Traefik (``traefik``;
  ``probes.routes``), recorded under ``route`` in the service's verification record.
  The ``timings`` output says where the last deploy's time went (write, deploy, healthy, stable,
  health_urls, total; seconds).
* read: reports drift made in Dokploy's UI (compose file, env, source/compose type, a failed or
  stopped last deployment, a domain of a declared route edited, removed or added) so that the next
  ``up`` repairs it; a compose deleted there is gone. A compose whose stack declares no route keeps
  whatever domains Dokploy has (they are not managed, and never deleted).
* Dokploy going away (restarting, down, its database down) is waited out for ``dokployUnreachableTimeout``
  seconds (stack config, default 180) by every call, then the operation fails naming Dokploy's URL and
  what it was doing. A deployment Dokploy can no longer finish (it restarted, or its database went away,
  while the job ran: ``dokploy_api.deploy``) fails at once, naming the compose project, with the usual
  rollback; the failed update keeps the old state, so the next ``pulumi up`` deploys again. Verification
  goes on once Dokploy answers again (a restart of Dokploy does not touch the containers it watches).
* delete: ``compose.delete`` (volumes per ``delete_volumes``; Dokploy deletes the compose's domains with
  it); an already deleted compose is fine.
  Dokploy answers before Swarm has removed a stack's tasks (``docker stack rm`` returns at once), so
  the delete then waits, through Dokploy's API, until the project's services and containers are gone
  (at most ``DELETE_SETTLE`` seconds, then a warning): a replacement (compose mode to stack mode, one
  server to another) starts only once the ports and names of the old one are free. Dokploy deletes the row
  first, then runs ``docker compose down`` inside the request: a restart in between leaves the project's
  containers behind with no compose to delete them. So a delete whose answer was lost, or that finds the
  compose gone already, asks Dokploy whether the compose is still there (sending the delete again only if so)
  and removes, through ``docker.removeContainer``, what is left of the project's containers (compose mode).
* The API key is neither an input nor an output, so it is never in the state: every operation
  takes it from the stack config (``dokployApiKey``) or ``DOKPLOY_API_KEY``. The key and the env
  values never appear in an error message; the env text and its hash are secret outputs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components import compose_reads
from components.compose_project_inputs import (
    COMPOSE_COMPUTED,
    COMPOSE_INPUTS,
    check_inputs,
    diff_inputs,
    live_drift,
    sha256_text,
)
from components.provider_support import (
    DokployProviderBase,
    append_to_error,
    engine_warning,
    guard,
    now,
    prefix_error,
    props_of,
    read_result,
    same,
)
from core import domains
from core.dotenv import env_values
from core.verification import expected_services
from dokploy_api import (
    DeploymentFailed,
    DokployClient,
    DokployConflict,
    DokployConnectionError,
    DokployError,
    DokployNotFound,
    DokployUnreachable,
)
from dokploy_api.deploy import deploy_and_wait
from dokploy_api.domains import reconcile_domains
from dokploy_api.lookup import find_compose
from probes.dokploy_runtime import VerificationFailed, Verified, runtime_for, verify_runtime
from probes.health import HealthCheckFailed, verify_health
from probes.routes import RouteCheckFailed, verify_routes

VERIFY_INTERVAL = (0.5, 5.0)
"""Verification polls Dokploy every poll_interval seconds, kept within these bounds."""
DELETE_SETTLE = 90.0
"""Seconds a delete waits for the project's services and containers to be gone (Swarm removes a stack's tasks after
``docker stack rm`` returned)."""


@dataclass
class Timings:
    """Seconds per step of one create or update (the ``timings`` output): where a deploy's time goes."""

    started: float = field(default_factory=time.monotonic)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = round(self.seconds.get(step, 0.0) + seconds, 3)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)

    def output(self) -> dict[str, float]:
        return {**self.seconds, "total": round(time.monotonic() - self.started, 3)}


def _secrets(props: Mapping[str, Any]) -> list[str]:
    out = [props["api_key"]] if isinstance(props.get("api_key"), str) else []
    if isinstance(props.get("env"), str):
        out.extend(env_values(props["env"]))
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _label(props: Mapping[str, Any], app_name: Any) -> str:
    """How messages name the compose project: its catalog name, Dokploy's app name in parentheses."""
    return f"compose project {props.get('compose_name')} ({app_name or '?'})"


@dataclass
class ComposeProjectProvider(DokployProviderBase, ResourceProvider):
    """Dynamic provider behind ComposeProject (see the module docstring for its guarantees)."""

    health_options: dict[str, Any] = field(default_factory=dict)
    """Extra verify_health keyword arguments (tests: interval)."""
    deploy_options: dict[str, Any] = field(default_factory=dict)
    """Extra deploy_and_wait keyword arguments (tests: unsure_grace, log_lines)."""
    verify_options: dict[str, Any] = field(default_factory=dict)
    """Extra verify_runtime keyword arguments (tests: interval, log_lines)."""
    delete_settle: float = DELETE_SETTLE
    """Seconds a delete waits for the project's services and containers to be gone."""
    stack: str = ""
    """The stack that declared the resource, for the command a failure suggests ("" in states pickled before it)."""

    route_options: dict[str, Any] = field(default_factory=dict)
    """Extra verify_routes keyword arguments (tests: interval)."""

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        return env_values(props.get("env") if isinstance(props.get("env"), str) else "")

    @staticmethod
    def _domains(client: DokployClient, compose_id: str, routes: Any, timings: Timings, live: Mapping[str, Any] | None = None) -> None:
        """Dokploy's domains of the compose made the declared routes (before the deploy that writes their labels); ``live``: the
        compose's ``compose.one`` row, whose domains are then not read again."""
        rows = live.get("domains") if live is not None else None
        with timings.step("domains"):
            reconcile_domains(client, compose_id, domains.declared(_mapping(routes)), rows if isinstance(rows, list) else None)

    def _check_routes(self, props: Mapping[str, Any], record: dict[str, Any], timings: Timings) -> dict[str, Any]:
        """Every route answers its health path through Traefik; the verification record with each route's answer."""
        routes, traefik = domains.declared(_mapping(props.get("routes"))), _mapping(props.get("traefik"))
        if not routes or not traefik:
            return record
        poll = float(props.get("poll_interval", 2.0))
        options = {"interval": min(max(poll, VERIFY_INTERVAL[0]), VERIFY_INTERVAL[1]), **self.route_options}
        with timings.step("routes"):
            checks = verify_routes(routes, traefik, timeout=float(props.get("health_timeout", 120.0)), redact=_secrets(props), **options)
        out = {name: dict(rec) for name, rec in record.items()}
        for service, check in checks.items():
            out.setdefault(service, {})["route"] = check
            certificate = str(check.get("certificate") or "valid")
            if certificate != "valid":
                engine_warning(
                    f"compose {props.get('compose_name')}: the route {check['url']} answers through Traefik, but its certificate is "
                    f"{certificate} (Let's Encrypt issues one once DNS points the host at the Dokploy host)"
                )
        return out

    def _verify(
        self, client: DokployClient, compose_id: str, live: Mapping[str, Any], props: Mapping[str, Any], timings: Timings
    ) -> dict[str, Any]:
        """What runs is the release, healthy and stable (through Dokploy), then the health URLs answer; the per-service record."""
        app_name = live.get("appName") or client.compose.one(compose_id).get("appName")
        seen = len(client.transport.outages.seen)
        with client.doing(f"verifying {_label(props, app_name)}"):
            record = self._verify_runtime(client, compose_id, str(app_name), live, props, timings)
        outages = client.transport.outages.seen[seen:]
        if outages:  # Dokploy went away and came back: the containers it watches were not touched by that
            away = sum(o.seconds(client.clock()) for o in outages)
            engine_warning(f"{_label(props, app_name)}: Dokploy did not answer for {away:.0f}s while it was verified "
                           f"({outages[-1].detail}); verification went on once it answered, and passed")
        return record

    def _verify_runtime(
        self, client: DokployClient, compose_id: str, app_name: str, live: Mapping[str, Any], props: Mapping[str, Any], timings: Timings
    ) -> dict[str, Any]:
        compose_type = str(props.get("compose_type") or "docker-compose")
        runtime = runtime_for(client, compose_type, compose_id, str(app_name), live.get("serverId"), str(props.get("compose_name") or ""))
        try:
            expected = expected_services(str(props.get("compose_file") or ""))
        except ValueError as exc:
            raise VerificationFailed(f"verification failed: {exc}", [], "deploy") from None
        poll = float(props.get("poll_interval", 2.0))
        options = {"interval": min(max(poll, VERIFY_INTERVAL[0]), VERIFY_INTERVAL[1]), **self.verify_options}
        verified: Verified = verify_runtime(
            runtime,
            expected,
            health_timeout=float(props.get("health_timeout", 120.0)),
            window=float(props.get("stability_window", 10.0)),
            **options,
        )
        timings.add("healthy", verified.healthy_after)
        timings.add("stable", verified.elapsed - verified.healthy_after)
        with timings.step("health_urls"):
            verify_health(
                dict(props.get("health_urls") or {}),
                timeout=float(props.get("health_timeout", 120.0)),
                redact=_secrets(props),
                **self.health_options,
            )
        return self._check_routes(props, verified.record, timings)

    def _explained(self, exc: BaseException, props: Mapping[str, Any], app_name: Any) -> BaseException:
        """The failure, naming the compose project by its catalog name (Dokploy's app name after it), and the command
        that helps next: the log of the one service that failed, else the stack's status."""
        name = f"compose project {props.get('compose_name')}" + (f" ({app_name})" if app_name else "")
        if name not in str(exc):
            exc = prefix_error(exc, f"{name}: ")
        if not isinstance(exc, DeploymentFailed | HealthCheckFailed | VerificationFailed | RouteCheckFailed):
            return exc  # Dokploy refused or did not answer: its message says what to do
        services = exc.services if isinstance(exc, VerificationFailed) else [exc.service] if isinstance(exc, HealthCheckFailed) else []
        stack = self.stack or "<stack>"
        if len(services) == 1:
            hint = f"python -m deployctl logs --stack {stack} {services[0]} --tail 50"
        else:
            hint = f"python -m deployctl status --stack {stack}"
        return append_to_error(exc, f"\nnext: {hint}")

    def _deploy(
        self,
        client: DokployClient,
        compose_id: str,
        props: Mapping[str, Any],
        *,
        redeploy: bool,
        why: str,
        app_name: Any,
        before: set[str] | None = None,
    ) -> dict[str, Any]:
        label = _label(props, app_name)
        with client.doing(f"waiting for the {why} deploy of {label}"):
            return deploy_and_wait(
                client,
                compose_id,
                before=before,
                redeploy=redeploy,
                title=f"pulumi {why} {sha256_text(props.get('compose_file'))[:12]}",
                description=f"pulumi: {props.get('project_name')}/{props.get('environment_name')}/{props.get('compose_name')}",
                timeout=float(props.get("deploy_timeout", 600.0)),
                poll_interval=float(props.get("poll_interval", 2.0)),
                label=label,
                log_silence=self.log_silence(),
                **self.deploy_options,
            )

    @staticmethod
    def _write(client: DokployClient, compose_id: str, props: Mapping[str, Any], live: Mapping[str, Any] | None) -> tuple[bool, bool]:
        """Write the compose file and env where Dokploy's copy differs; return (compose_written, env_written)."""
        want_file = props.get("compose_file") or ""
        want_type = props.get("compose_type") or "docker-compose"
        want_env = props.get("env") or ""
        compose_written = env_written = False
        if live is None or live.get("composeFile") != want_file or live.get("sourceType") != "raw" or live.get("composeType") != want_type:
            client.compose.update(compose_id, sourceType="raw", composeType=want_type, composeFile=want_file)
            compose_written = True
        if live is None or (live.get("env") or "") != want_env or live.get("createEnvFile") is False:
            client.compose.save_environment(compose_id, want_env, create_env_file=True)
            env_written = True
        return compose_written, env_written

    @staticmethod
    def _outputs(props: Mapping[str, Any], **computed: Any) -> dict[str, Any]:
        outs = {k: props[k] for k in COMPOSE_INPUTS if k in props and k != "api_key"}
        outs["compose_sha256"] = sha256_text(props.get("compose_file"))
        outs["env_sha256"] = sha256_text(props.get("env"))
        outs["drift"] = []
        outs.update(computed)
        return outs

    @staticmethod
    def _deployment_outputs(row: Mapping[str, Any] | None) -> dict[str, Any]:
        row = row or {}
        return {
            "deployment_id": row.get("deploymentId"),
            "deployment_status": row.get("status"),
            "deployment_finished_at": row.get("finishedAt"),
        }

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, [CheckFailure(prop, reason) for prop, reason in check_inputs(props_of(news))])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare the stored outputs with the new inputs; when they agree, Dokploy's view too (see the module docstring)."""
        old, new = props_of(olds), props_of(news)
        replaces, changed = diff_inputs(old, new)
        if not replaces and not changed and _id:
            live = self._peek(_id, new)
            if live is None:
                replaces = ["compose_name"]  # deleted in Dokploy: created again (the delete of the old id finds nothing)
            elif live and live_differs(live, new):
                changed = ["routes"] if domains_differ(live, new) else ["compose_file"]
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, stables=[], delete_before_replace=bool(replaces))

    def _peek(self, compose_id: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """``compose.one`` when an API key is at hand: the row, None when Dokploy no longer has it, {} when unknown."""
        if not (props.get("api_key") or self._configured_key or os.environ.get(self.api_key_env)):
            return {}
        try:
            with self._client(props, "diff") as client:
                return compose_reads.read(client, compose_id, str(props.get("environment_id") or ""), lambda: self._client(props, "diff"))
        except DokployError:
            return {}  # unreachable now: the stored outputs decide, and an update would say what is wrong

    @staticmethod
    def _server_id(p: Mapping[str, Any]) -> str | None:
        """The server the compose runs on (None: Dokploy's host); a server named but not resolved is an error."""
        name, server_id = str(p.get("server_name") or ""), str(p.get("server_id") or "")
        if name and not server_id:
            raise DokployConflict(
                f"compose {p.get('compose_name')}: server {name!r} was not resolved to a Dokploy server id "
                "(the program resolves it with server.all before anything changes; run `pulumi up` with the API key)"
            )
        return server_id or None

    @guard(_secrets)
    def create(self, props: dict[str, Any]) -> CreateResult:
        p = props_of(props)
        server_id = self._server_id(p)
        timings = Timings()
        with self._client(p, "create") as client:
            env_id = p["environment_id"]
            existing = find_compose(client, env_id, p["compose_name"])
            live: dict[str, Any] | None = None
            if existing is not None:
                compose_id = existing["composeId"]
                live = client.compose.one(compose_id)
                if (live.get("serverId") or None) != server_id:
                    where = _where(live.get("serverId"), _mapping(live.get("server")).get("name"))
                    raise DokployConflict(
                        f"a compose named {p['compose_name']!r} ({compose_id}) already exists in this environment on {where}, "
                        f"not on {_where(server_id, p.get('server_name'))}, and Dokploy cannot move a compose to another server: "
                        "delete it in Dokploy (it is not managed by this stack yet), then run `pulumi up` again"
                    )
                row = live
            else:
                row = client.compose.create(
                    p["compose_name"],
                    env_id,
                    compose_type=p.get("compose_type") or "docker-compose",
                    source_type="raw",
                    description="managed by pulumi (bizosaas-deploy)",
                    app_name=str(p.get("app_name_base") or "") or None,
                    server_id=server_id,
                )
                compose_id = row["composeId"]
            app_name = row.get("appName")
            try:
                if p.get("routes"):  # (an adopted compose of a stack without routes keeps its domains as they are)
                    with client.doing(f"writing the domains of {_label(p, app_name)}"):  # a compose just created has none
                        self._domains(client, compose_id, p.get("routes"), timings, live if live is not None else {"domains": []})
                with timings.step("write"), client.doing(f"writing {_label(p, app_name)}"):
                    self._write(client, compose_id, p, live)
                with timings.step("deploy"):
                    deployment = self._deploy(client, compose_id, p, redeploy=existing is not None, why="create", app_name=app_name)
                verification = self._verify(client, compose_id, row, p, timings)
            except Exception as exc:
                kept = f" (compose {compose_id} stays in Dokploy; the next `pulumi up` adopts it)"
                raise self._explained(append_to_error(exc, kept), p, app_name) from None
        outs = self._outputs(
            p,
            compose_id=compose_id,
            app_name=app_name,
            healthy=True,
            verification=verification,
            verified_at=now(),
            timings=timings.output(),
            **self._deployment_outputs(deployment),
        )
        return CreateResult(compose_id, outs)

    @guard(_secrets)
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old = props_of(olds)
        new = props_of(news)
        compose_changed = old.get("compose_sha256") != sha256_text(new.get("compose_file"))
        env_changed = old.get("env_sha256") != sha256_text(new.get("env"))
        routes_changed = not same(old.get("routes") or {}, new.get("routes") or {})  # labels are written only by a deploy
        must_deploy = (
            compose_changed or env_changed or routes_changed or bool(old.get("drift")) or old.get("deployment_status") not in (None, "done")
        )
        must_verify = (
            must_deploy
            or old.get("healthy") is False
            or not old.get("verification")  # a state verified before verification read what runs through Dokploy
            or not same(old.get("health_urls"), new.get("health_urls"))
            or not same(old.get("traefik") or {}, new.get("traefik") or {})
        )
        keep = {k: old[k] for k in COMPOSE_COMPUTED if k in old and k not in ("compose_sha256", "env_sha256", "drift")}
        timings = Timings()
        with self._client(new, "update") as client, ThreadPoolExecutor(max_workers=1, thread_name_prefix="deployments") as pool:
            # the deployments there before this update's deploy, read while its compose is
            before = pool.submit(client.deployment.all_by_compose, _id) if must_deploy else None
            read, row = compose_reads.kept(client.base_url, _id)  # what this update's diff read, a moment ago: not asked twice
            try:
                live = row if read and row is not None else client.compose.one(_id)
            except DokployNotFound as exc:
                raise append_to_error(exc, "; it was deleted in Dokploy: run `pulumi refresh`, then `pulumi up` creates it again") from None
            if not must_deploy and not must_verify:  # the diff may have seen Dokploy run something else
                must_deploy = must_verify = live_differs(live, new)
            if not must_deploy and not must_verify:
                return UpdateResult(self._outputs(new, **{**keep, "drift": []}))
            deployment: dict[str, Any] | None = None
            try:
                if must_deploy:
                    if new.get("routes") or old.get("routes"):  # a compose that never had routes keeps its domains as they are
                        with client.doing(f"writing the domains of {_label(new, live.get('appName'))}"):
                            self._domains(client, _id, new.get("routes"), timings, live)
                    with timings.step("write"), client.doing(f"writing {_label(new, live.get('appName'))}"):
                        self._write(client, _id, new, live)
                    with timings.step("deploy"):
                        deployment = self._deploy(
                            client, _id, new, redeploy=True, why="update", app_name=live.get("appName"), before=_ids(before)
                        )
                verification = self._verify(client, _id, live, new, timings)
            except (DeploymentFailed, HealthCheckFailed, VerificationFailed, RouteCheckFailed) as exc:
                failure: BaseException = exc
                if new.get("rollback_on_failure") and must_deploy:
                    changed = (compose_changed, env_changed, routes_changed)
                    failure = append_to_error(exc, self._rollback(client, _id, live, old, new, *changed))
                raise self._explained(failure, new, live.get("appName") or old.get("app_name")) from None
        computed = {
            **keep,
            "drift": [],
            "healthy": True,
            "verification": verification,
            "verified_at": now(),
            "timings": timings.output(),
            "app_name": live.get("appName") or keep.get("app_name"),
        }
        if deployment is not None:
            computed.update(self._deployment_outputs(deployment))
        return UpdateResult(self._outputs(new, **computed))

    def _rollback(
        self,
        client: DokployClient,
        compose_id: str,
        live: Mapping[str, Any],
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        compose_changed: bool,
        env_changed: bool,
        routes_changed: bool = False,
    ) -> str:
        """Write the previous domains, compose file and env back, redeploy and verify it; return a sentence for the error message."""
        notes: list[str] = []
        try:
            with client.doing(f"rolling back {_label(new, live.get('appName'))}"):
                if routes_changed:
                    reconcile_domains(client, compose_id, domains.declared(_mapping(old.get("routes"))))
                if compose_changed and isinstance(old.get("compose_file"), str):
                    compose_type = old.get("compose_type") or new.get("compose_type") or "docker-compose"
                    client.compose.update(compose_id, sourceType="raw", composeType=compose_type, composeFile=old["compose_file"])
                elif compose_changed:
                    notes.append("the previous compose file is not in the state, so it was not restored")
                if env_changed and isinstance(old.get("env"), str):
                    client.compose.save_environment(compose_id, old["env"], create_env_file=True)
                elif env_changed:
                    notes.append("the previous env is not in the state, so it was not restored")
            previous = {**new, "compose_file": old.get("compose_file", new.get("compose_file")), "routes": old.get("routes") or {}}
            row = self._deploy(client, compose_id, previous, redeploy=True, why="rollback", app_name=live.get("appName"))
        except Exception as exc:  # the rollback's own failure is reported with the original
            return f"\nrollback to the previous version FAILED too: {exc}"
        extra = f" ({'; '.join(notes)})" if notes else ""
        done = f"\nrolled back to the previous compose file and env: deployment {row.get('deploymentId')} {row.get('status')}{extra}"
        try:
            record = self._verify(client, compose_id, live, previous, Timings())
        except Exception as exc:  # reported with the original failure
            return f"{done}; but the previous version FAILED verification too:\n{exc}"
        window = float(previous.get("stability_window", 10.0))
        return f"{done}; the previous version verified again: {', '.join(sorted(record))} as deployed, healthy, stable over {window:g}s"

    @guard(_secrets)
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live(props, lambda client: client.compose.one(id_))
        if live is None:
            return ReadResult("", {})
        outs = {k: v for k, v in props_of(props).items() if k != "api_key"}
        environment = _mapping(live.get("environment"))
        project = _mapping(environment.get("project"))
        # Identity: filled from Dokploy when missing (import), otherwise kept as declared.
        for key, value in (
            ("compose_name", live.get("name")),
            ("environment_name", "production" if environment.get("isDefault") else environment.get("name")),
            ("project_name", project.get("name")),
            ("compose_type", live.get("composeType")),
            ("server_id", live.get("serverId") or ""),
            ("server_name", _mapping(live.get("server")).get("name") or ""),
        ):
            if key not in outs and value is not None:
                outs[key] = value
        outs.setdefault("services", {})
        outs.setdefault("health_urls", {})
        outs["compose_id"] = id_
        outs["app_name"] = live.get("appName")
        outs["environment_id"] = live.get("environmentId") or outs.get("environment_id")
        outs["project_id"] = project.get("projectId") or outs.get("project_id")
        live_file = live.get("composeFile") if isinstance(live.get("composeFile"), str) else ""
        live_env = live.get("env") if isinstance(live.get("env"), str) else ""
        inputs_changed = False
        if outs.get("compose_sha256") != sha256_text(live_file) or "compose_file" not in outs:
            outs["compose_file"], outs["compose_sha256"] = live_file, sha256_text(live_file)
            inputs_changed = True
        if outs.get("env_sha256") != sha256_text(live_env) or "env" not in outs:
            outs["env"], outs["env_sha256"] = live_env, sha256_text(live_env)
            inputs_changed = True
        drift, latest = live_drift(live, outs.get("compose_type"))
        declared = domains.declared(_mapping(outs.get("routes")))
        if declared:  # the domains of a compose with routes are managed: edited, removed or added in Dokploy is drift
            rows = [r for r in live.get("domains") or [] if isinstance(r, dict)]
            drift += domains.drift(declared, rows)
            view = domains.live_view(declared, rows)
            if not same(view, declared):
                outs["routes"] = view
                inputs_changed = True
        if latest is not None and latest.get("status") in ("done", "error", "cancelled"):
            outs.update(self._deployment_outputs(latest))
        outs["drift"] = drift
        return read_result(id_, outs, COMPOSE_INPUTS, inputs_changed)

    @guard(_secrets)
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        p = props_of(props)

        def remove(client: DokployClient) -> None:
            with client.doing(f"deleting {_label(p, p.get('app_name'))}"):
                row, cut_short = self._send_delete(client, id_, p)
                live = row if isinstance(row, dict) else {}
                app_name = str(live.get("appName") or p.get("app_name") or "")
                compose_type = str(live.get("composeType") or p.get("compose_type") or "docker-compose")
                if app_name:
                    server_id = live.get("serverId") or p.get("server_id") or None
                    removed = self._settle_removed(client, app_name, compose_type, server_id, finish=cut_short and compose_type != "stack")
                    if removed:
                        engine_warning(
                            f"{_label(p, app_name)}: Dokploy's delete of it left containers behind (Dokploy restarted during its "
                            f"`docker compose down`, or it was deleted there before); removed them through Dokploy's API: "
                            f"{', '.join(sorted(removed))[:300]}"
                        )

        self._delete(p, remove)

    @staticmethod
    def _send_delete(client: DokployClient, id_: str, p: Mapping[str, Any]) -> tuple[Any, bool]:
        """``compose.delete``; (its answer, whether a delete may have been cut short and left containers behind).

        The answer lost (Dokploy restarted mid-request) or the compose gone already (an earlier delete, maybe cut
        short the same way): Dokploy deletes the row before it runs ``docker compose down``, so a compose still there
        was not touched, and is deleted again; a compose gone may have left its containers."""
        volumes = bool(p.get("delete_volumes"))
        try:
            return client.compose.delete(id_, delete_volumes=volumes), False
        except DokployNotFound:
            return None, True
        except DokployConnectionError as exc:
            if not exc.maybe_sent or isinstance(exc, DokployUnreachable):
                raise
        try:
            client.compose.one(id_)  # waits for Dokploy to answer again
        except DokployNotFound:
            return None, True
        return client.compose.delete(id_, delete_volumes=volumes), False

    def _settle_removed(
        self, client: DokployClient, app_name: str, compose_type: str, server_id: str | None, finish: bool = False
    ) -> list[str]:
        """Wait (bounded) until Dokploy's API shows nothing of a deleted project: no Swarm service, no container.

        ``finish``: the delete may have been cut short: remove the project's containers still there (``docker rm -f``);
        returns the names of the containers removed."""
        stack = compose_type == "stack"
        deadline = client.clock() + max(0.0, self.delete_settle)
        left: list[str] = []
        removed: list[str] = []
        while True:
            try:
                services = [r["Name"] for r in client.swarm.node_apps(server_id) if r["Name"].startswith(f"{app_name}_")] if stack else []
                app_type = "stack" if stack else "docker-compose"
                rows = client.docker.containers_by_app_name_match(app_name, app_type, server_id)
                if finish and rows:
                    for r in rows:
                        client.docker.remove_container(r["containerId"], server_id)
                    removed += [str(r.get("name") or r["containerId"]) for r in rows]
                    finish = False
                    continue
                containers = [r.get("name") or "?" for r in rows]
            except DokployUnreachable:
                raise
            except DokployError:
                return removed  # nothing more can be learnt; the delete itself succeeded
            left = services + [str(c) for c in containers]
            if not left or client.clock() >= deadline:
                break
            client.sleep(1.0)
        if left:
            engine_warning(
                f"compose {app_name} was deleted in Dokploy, but after {self.delete_settle:g}s its "
                f"{'services and tasks' if stack else 'containers'} are still there: {', '.join(sorted(left))[:300]}"
            )
        return removed


def live_differs(live: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether Dokploy's compose is not what ``new`` declares: file, env, type, a last deployment that did not end done, or
    (a compose with routes) its domains."""
    if live.get("composeFile") != (new.get("compose_file") or "") or (live.get("env") or "") != (new.get("env") or ""):
        return True
    return bool(live_drift(live, str(new.get("compose_type") or "docker-compose"))[0]) or domains_differ(live, new)


def domains_differ(live: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the domains ``compose.one`` lists are not the declared routes (never for a compose without routes)."""
    declared = domains.declared(_mapping(new.get("routes")))
    return bool(declared) and bool(domains.drift(declared, [r for r in live.get("domains") or [] if isinstance(r, dict)]))


def _ids(pending: Future[list[dict[str, Any]]] | None) -> set[str] | None:
    """The deployment ids of a ``deployment.allByCompose`` read in the background (None: not read; its error is raised)."""
    return None if pending is None else {str(r["deploymentId"]) for r in pending.result()}


def _where(server_id: Any, name: Any) -> str:
    return f"server {name or server_id}" if server_id else "Dokploy's host"
