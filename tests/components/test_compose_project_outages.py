"""ComposeProjectProvider when Dokploy restarts or goes away (against the stand-in): a lost deployment fails at once
with the rollback, the database down is waited out or named, the bound on an outage, verification and a delete that a
restart interrupts."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from components.compose_project import ComposeProjectProvider
from dokploy_api import DeploymentLost, DokployUnreachable
from testkit.dokploy import FakeDokploy
from tests.components.conftest import DIGEST_B, FAST_CLIENT, FAST_DEPLOY, FAST_HEALTH, FAST_VERIFY, compose_yaml, deployments, procs


def _provider(api_key: str, **config: str) -> ComposeProjectProvider:
    provider = ComposeProjectProvider(client_options=dict(FAST_CLIENT), health_options=dict(FAST_HEALTH),
                                      deploy_options=dict(FAST_DEPLOY), verify_options=dict(FAST_VERIFY))
    values = {"bizosaas-deploy:dokployApiKey": api_key, **{f"bizosaas-deploy:{k}": v for k, v in config.items()}}
    provider.configure(ConfigureRequest(Config(values, "bizosaas-deploy")))
    return provider


def _update(provider: ComposeProjectProvider, props: dict[str, Any], **news: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the state after a create, the inputs of an update to another digest)."""
    outs = provider.create(props).outs or {}
    return outs, {**props, "compose_file": compose_yaml(DIGEST_B), "deploy_timeout": 60.0, **news}


def test_a_deploy_lost_in_a_restart_fails_at_once_rolls_back_and_the_next_update_converges(
    api_key: str, props: dict[str, Any], srv: FakeDokploy
) -> None:
    provider = _provider(api_key)
    outs, news = _update(provider, props, rollback_on_failure=True)
    srv.production = False  # a development build: the lost row stays "running" forever
    srv.faults.deploy_duration = 1.0
    srv.faults.at("deploy", compose="backend", title="update", after=0.2, seconds=0.5)
    started = time.monotonic()
    with pytest.raises(DeploymentLost) as info:
        provider.update(outs["compose_id"], outs, news)
    elapsed = time.monotonic() - started
    assert elapsed < 8, elapsed  # not the 60 s deploy timeout
    lost = info.value.deployment_id
    assert str(info.value).startswith(
        f"Dokploy restarted during the deploy of compose project backend ({outs['app_name']}); its deployment {lost} will not finish "
        "(the job is gone from Dokploy's deployment queue, which is kept in memory)"
    )
    rolled_back = r"rolled back to the previous compose file and env: deployment \S+ done; the previous version verified"
    assert re.search(rolled_back, str(info.value))
    srv.faults.deploy_duration = 0.05
    again = provider.update(outs["compose_id"], outs, news).outs or {}  # the stale "running" row does not confuse it
    assert again["deployment_status"] == "done" and again["deployment_id"] != lost
    assert {d["deploymentId"]: d["status"] for d in deployments(srv)}[lost] == "running"


def test_the_database_going_away_at_the_end_of_a_deploy_is_named_and_the_next_update_converges(
    api_key: str, props: dict[str, Any], srv: FakeDokploy
) -> None:
    provider = _provider(api_key)
    outs, news = _update(provider, props)
    srv.faults.deploy_duration = 0.6
    srv.faults.at("deploy", "database_down", compose="backend", after=0.2, seconds=1.5)
    with pytest.raises(DeploymentLost) as info:
        provider.update(outs["compose_id"], outs, news)
    assert str(info.value).startswith(
        f"Dokploy's database went away during the deploy of compose project backend ({outs['app_name']}); its deployment "
    )
    assert info.value.cause == "database"
    assert ("GET", "deployment.allByCompose", 401) in srv.calls  # waited out, not taken for a bad key
    srv.faults.deploy_duration = 0.05
    assert (provider.update(outs["compose_id"], outs, news).outs or {})["deployment_status"] == "done"


def test_the_database_down_for_a_moment_while_the_deploy_runs_is_waited_out(
    api_key: str, props: dict[str, Any], srv: FakeDokploy
) -> None:
    provider = _provider(api_key)
    outs, news = _update(provider, props)
    srv.faults.deploy_duration = 2.0  # the job writes its outcome after the database is back
    srv.faults.at("deploy", "database_down", compose="backend", after=0.2, seconds=0.8)
    assert (provider.update(outs["compose_id"], outs, news).outs or {})["deployment_status"] == "done"
    assert ("GET", "deployment.allByCompose", 401) in srv.calls


def test_dokploy_away_longer_than_the_bound_fails_naming_the_url_what_it_did_and_the_next_command(
    api_key: str, props: dict[str, Any], srv: FakeDokploy
) -> None:
    provider = _provider(api_key, dokployUnreachableTimeout="1")
    outs, news = _update(provider, props, rollback_on_failure=True)
    srv.faults.deploy_duration = 1.0
    srv.faults.at("deploy", compose="backend", after=0.2, seconds=4.0)
    started = time.monotonic()
    with pytest.raises(DokployUnreachable) as info:
        provider.update(outs["compose_id"], outs, news)
    assert time.monotonic() - started < 3.5
    assert str(info.value) == (
        f"deployment.allByCompose: Dokploy at {srv.base_url} did not answer for 1s while waiting for the update deploy of "
        f"compose project backend ({outs['app_name']}) (connection refused): it is down or restarting; "
        "gave up after 1s (dokployUnreachableTimeout); run `pulumi up` again once Dokploy answers"
    )
    time.sleep(4.0)
    srv.faults.deploy_duration = 0.05
    assert (provider.update(outs["compose_id"], outs, news).outs or {})["deployment_status"] == "done"


def test_a_restart_during_verification_is_waited_out_and_the_update_verifies(
    api_key: str, props: dict[str, Any], srv: FakeDokploy, warnings_shown: Any
) -> None:
    provider = _provider(api_key)
    outs, news = _update(provider, props, stability_window=1.5)
    srv.faults.at("docker.getContainersByAppNameMatch", compose="backend", after=0.1, seconds=0.6)
    result = provider.update(outs["compose_id"], outs, news).outs or {}
    assert result["healthy"] is True and set(result["verification"]) == {"web", "worker"}
    assert next(what for _, what in srv.events).startswith("restart")
    assert re.search(rf"compose project backend \({outs['app_name']}\): Dokploy did not answer for \d+s while it was verified "
                     r"\(connection refused\); verification went on once it answered, and passed", warnings_shown())


def test_a_delete_whose_answer_a_restart_cut_is_not_sent_again_once_the_compose_is_gone(
    api_key: str, props: dict[str, Any], srv: FakeDokploy
) -> None:
    provider = _provider(api_key)
    outs = provider.create(props).outs or {}
    srv.faults.at("compose.delete", compose="backend", after=0.05, seconds=0.5)
    srv.faults.delay("compose.delete", 0.4, after=True)  # the row is deleted; the answer is lost in the restart
    provider.delete(outs["compose_id"], outs)
    assert procs(srv, "POST").count("compose.delete") == 1
    assert ("GET", "compose.one", 404) in srv.calls


def test_a_delete_cut_short_before_docker_compose_down_finished_removes_what_it_left(
    api_key: str, props: dict[str, Any], srv: FakeDokploy, warnings_shown: Any
) -> None:
    provider = _provider(api_key)
    outs = provider.create(props).outs or {}
    with srv.state.write():  # what a restart between the row's delete and `docker compose down` leaves: containers, no compose
        srv.state.delete_compose_cascade(outs["compose_id"])
    assert len(srv.containers.rows(outs["app_name"], "docker-compose")) == 2
    provider.delete(outs["compose_id"], outs)
    assert srv.containers.rows(outs["app_name"], "docker-compose") == []
    assert procs(srv, "POST").count("docker.removeContainer") == 2
    assert f"compose project backend ({outs['app_name']}): Dokploy's delete of it left containers behind" in warnings_shown()
