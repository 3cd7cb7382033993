"""The GitHub Actions workflows: schema-valid (check-jsonschema's vendored GitHub schemas) and the
delivery rules they must keep: one deploy per stack at a time, prod behind the production
environment, least-privilege tokens, the commands that actually deploy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PR_WORKFLOWS = ("pr-environment.yml", "pr-environment-sweep.yml")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("on", doc.get(True))  # PyYAML reads the bare key `on` as True


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def runs(doc: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in steps(doc))


def validate(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)], capture_output=True, text=True, check=False)


def test_the_six_workflows_exist() -> None:
    assert [p.name for p in FILES] == [
        "deploy-staging.yml", "pr-environment-sweep.yml", "pr-environment.yml", "preview.yml", "promote-prod.yml", "rollback.yml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_github_schema(path: Path) -> None:
    result = validate(path, "vendor.github-workflows")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_local_action_is_valid_against_the_github_schema(path: Path) -> None:
    result = validate(path, "vendor.github-actions")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    concurrency: {cancel-in-progress: maybe}\n    steps: []\n"
    )
    result = validate(broken, "vendor.github-workflows")
    assert result.returncode == 1 and "cancel-in-progress']: 'maybe' is not of type 'boolean'" in result.stdout + result.stderr


# --- one deploy of a stack at a time; prod behind the production environment ----------------------


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("deploy-staging.yml", "deploy-staging"),
        ("promote-prod.yml", "deploy-prod"),
        ("rollback.yml", "deploy-${{ inputs.stack }}"),
    ],
)
def test_deploys_of_one_stack_never_overlap(name: str, group: str) -> None:
    concurrency = load(name)["concurrency"]
    assert concurrency == {"group": group, "cancel-in-progress": False}


def test_rollback_group_is_the_same_as_the_deploy_group_of_its_stack() -> None:
    group = load("rollback.yml")["concurrency"]["group"]
    stacks = triggers(load("rollback.yml"))["workflow_dispatch"]["inputs"]["stack"]["options"]
    assert stacks == ["staging", "prod"]
    assert {group.replace("${{ inputs.stack }}", s) for s in stacks} == {
        load("deploy-staging.yml")["concurrency"]["group"],
        load("promote-prod.yml")["concurrency"]["group"],
    }


def test_prod_runs_in_the_production_environment() -> None:
    (job,) = load("promote-prod.yml")["jobs"].values()
    assert job["environment"]["name"] == "production"
    (rollback,) = load("rollback.yml")["jobs"].values()
    assert rollback["environment"]["name"] == "${{ inputs.stack == 'prod' && 'production' || 'staging' }}"


def test_triggers() -> None:
    assert triggers(load("preview.yml")) == {"pull_request": {"branches": ["main"]}}
    assert triggers(load("deploy-staging.yml"))["push"] == {"branches": ["main"]}
    assert set(triggers(load("promote-prod.yml"))) == {"workflow_dispatch"}
    inputs = triggers(load("rollback.yml"))["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["required"] and inputs["release"]["required"]


# --- least privilege ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["permissions"] == {"contents": "read"}
    for name, job in doc["jobs"].items():
        perms = job["permissions"]
        assert isinstance(perms, dict), name
        writes = {k for k, v in perms.items() if v == "write"}
        allowed = {"pull-requests"} if (path.name, name) == ("preview.yml", "comment") else set()
        if path.name in PR_WORKFLOWS:  # the PR's comment; GITHUB_TOKEN pushes and deletes the preview packages' versions
            allowed = {"pull-requests", "packages"}
        assert writes == allowed, (path.name, name, perms)


def test_only_the_comment_job_may_write_and_it_runs_no_project_code() -> None:
    comment = load("preview.yml")["jobs"]["comment"]
    uses = [s.get("uses", "") for s in comment["steps"]]
    assert not any(u.startswith(("actions/checkout", "./")) for u in uses)
    assert not re.search(r"^\s*(pulumi|python|venv/bin/)", "\n".join(s.get("run", "") for s in comment["steps"]), re.MULTILINE)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_untrusted_input_never_lands_in_a_script(path: Path) -> None:
    """Inputs and event fields reach scripts through env, never spliced into `run:` (script injection)."""
    doc = yaml.safe_load(path.read_text())
    for step in steps(doc):
        assert not re.search(r"\$\{\{\s*(inputs\.|github\.event\.|github\.head_ref)", step.get("run", "")), (path.name, step.get("name"))


# --- what they run ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_state_backend_is_a_variable_and_the_passphrase_a_secret_of_the_job_environment(path: Path) -> None:
    text = path.read_text()
    if path.name in PR_WORKFLOWS:  # the PR environments' own prefix of the bucket (their own state keys reach only it)
        assert "PULUMI_BACKEND_URL: ${{ vars.PR_PULUMI_BACKEND_URL }}" in text
        assert "s3://bizosaas-pulumi-state/pr-environments?region=" in text
    else:
        assert "PULUMI_BACKEND_URL: ${{ vars.PULUMI_BACKEND_URL }}" in text
        assert "s3://bizosaas-pulumi-state?region=" in text  # the backend is documented where it is used
    assert "PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}" in text
    doc = yaml.safe_load(text)
    assert "secrets." not in yaml.safe_dump(doc.get("env", {}))  # no secret is given to a whole workflow
    for name, job in doc["jobs"].items():
        if "secrets." in yaml.safe_dump(job):
            assert job.get("environment"), (path.name, name)  # secrets come from a job's environment: per stack


# --- pull requests never reach a secret that deploys ---------------------------------------------


def test_previews_get_no_dokploy_key_read_only_state_keys_and_their_own_stack_passphrase() -> None:
    doc = load("preview.yml")
    text = (WORKFLOWS / "preview.yml").read_text()
    assert "DOKPLOY_API_KEY" not in text.split("name: preview", 1)[1]  # named in the header comment only
    job = doc["jobs"]["preview"]
    assert job["environment"]["name"] == "${{ matrix.stack == 'prod' && 'production-preview' || 'staging-preview' }}"
    assert job["env"]["AWS_ACCESS_KEY_ID"] == "${{ secrets.STATE_READONLY_ACCESS_KEY_ID }}"
    assert job["env"]["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.STATE_READONLY_SECRET_ACCESS_KEY }}"
    assert "secrets." not in yaml.safe_dump(doc["jobs"]["comment"])


def reviewed_environments() -> set[str]:
    """The environments README says have required reviewers (a repository setting the workflows rely on)."""
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if "have required reviewers" in x)
    return set(re.findall(r"`([\w-]+)`", line.split("have required reviewers")[0]))


def main_only_environments() -> set[str]:
    """The environments README says accept deployments from main only (the same sentence, after the reviewed ones)."""
    paragraph = next(x for x in (ROOT / "README.md").read_text().split("\n\n") if "have required reviewers" in x)
    return set(re.findall(r"`([\w-]+)`", paragraph.split("have required reviewers")[1].split("accept deployments from")[0]))


def runs_pull_request_code(trigger: dict[str, Any], job: dict[str, Any]) -> bool:
    """A pull_request job runs the pull request's code (its merge commit is what checkout takes); a pull_request_target job
    only when one of its checkouts asks for another ref or repository."""
    if "pull_request" in trigger:
        return True
    checkouts = [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith("actions/checkout@")]
    return any({"ref", "repository"} & set(s.get("with") or {}) for s in checkouts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_pull_request_job_gets_a_passphrase_without_a_reviewers_approval(path: Path) -> None:
    """Issue 22: a pull request's code decrypts a stack's secrets only after a maintainer approved that run."""
    doc = load(path.name)
    if not {"pull_request", "pull_request_target"} & set(triggers(doc) or {}):
        return
    for name, job in doc["jobs"].items():
        if "PULUMI_CONFIG_PASSPHRASE" not in yaml.safe_dump(job):
            continue
        if not runs_pull_request_code(triggers(doc), job):  # main's code only (its workflow too): main-only environments suffice
            environment = job.get("environment")
            assert environment and environment["name"] in main_only_environments(), (path.name, name)
            continue
        environment = job.get("environment")
        names = environment.get("name") if isinstance(environment, dict) else environment
        assert names, f"{path.name}: job {name} gets the passphrase outside any environment"
        for env in re.findall(r"(?:&&|\|\|)\s*'([\w-]+)'", names) or [names]:  # the names an expression picks
            assert env in reviewed_environments(), f"{path.name}: job {name} runs in {env}, which has no required reviewers"
    assert {"staging-preview", "production-preview"} <= reviewed_environments()


def test_the_image_build_runs_without_any_secret() -> None:
    """deploy-staging builds another repository's images: that step (and the job around it) sees no secret."""
    (job,) = load("deploy-staging.yml")["jobs"].values()
    assert "secrets." not in yaml.safe_dump(job["env"])
    build = next(s for s in job["steps"] if s.get("name", "").startswith("Build the images"))
    assert "secrets." not in yaml.safe_dump(build)
    up = next(s for s in job["steps"] if "pulumi-wait-lock.sh up" in s.get("run", ""))
    assert set(up["env"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULUMI_CONFIG_PASSPHRASE", "DOKPLOY_API_KEY"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_step_that_runs_the_pulumi_cli_can_reach_the_state_backend(path: Path) -> None:
    """`pulumi config set` reads the stack from the backend too (without AWS keys it fails on the S3 backend's
    GetObject): with secrets scoped per step, each step that runs the CLI needs the state keys and the passphrase."""
    for job in yaml.safe_load(path.read_text())["jobs"].values():
        for step in job.get("steps", []):
            if not re.search(r"(^\s*|[|;&(]\s*)(pulumi|bash scripts/pulumi-wait-lock\.sh) ", step.get("run", ""), re.M):
                continue
            env = {**job.get("env", {}), **step.get("env", {})}
            assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULUMI_CONFIG_PASSPHRASE"} <= set(env), (path.name, step["name"])


@pytest.mark.parametrize("path", [*FILES, *ACTIONS], ids=lambda p: p.name if p.name != "action.yml" else p.parent.name)
def test_third_party_actions_are_pinned_by_commit_with_their_version(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:- )?uses:\s*(\S+)(.*)$", line)
        if not match or match.group(1).startswith("./"):
            continue
        action, rest = match.groups()
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), (path.name, line)
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", rest), (path.name, line)


def test_setup_installs_the_official_cli_and_the_venv() -> None:
    action = yaml.safe_load((ROOT / ".github" / "actions" / "setup" / "action.yml").read_text())
    uses = [s.get("uses", "") for s in action["runs"]["steps"]]
    assert any(u.startswith("pulumi/actions@") for u in uses) and any(u.startswith("actions/setup-python@") for u in uses)
    assert "venv/bin/pip install --disable-pip-version-check -q -r requirements.txt" in action["runs"]["steps"][1]["run"]
    for path in FILES:
        assert "./.github/actions/setup" in [s.get("uses") for s in steps(yaml.safe_load(path.read_text()))], path.name


def test_preview_previews_both_stacks_and_keeps_one_comment() -> None:
    doc = load("preview.yml")
    assert doc["jobs"]["preview"]["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    script = runs(doc)
    assert 'pulumi preview --stack "$STACK" --diff --non-interactive' in script
    assert "--event-log" in script
    assert 'venv/bin/python -m deployctl.preview --stack "$STACK"' in script
    github_script = next(s for s in doc["jobs"]["comment"]["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    assert "<!-- bizosaas-deploy:pulumi-preview -->" in github_script["with"]["script"]
    assert "updateComment" in github_script["with"]["script"] and "createComment" in github_script["with"]["script"]
    assert 'echo "<!-- bizosaas-deploy:pulumi-preview -->"' in script
    # Both summaries and the marker fit in one GitHub comment.
    assert 2 * int(doc["env"]["SUMMARY_MAX_CHARS"]) + 400 < 65_536


def test_preview_fails_when_a_preview_fails() -> None:
    doc = load("preview.yml")
    preview_steps = doc["jobs"]["preview"]["steps"]
    fail = next(s for s in preview_steps if s.get("name") == "Fail when the preview failed")
    assert fail["if"] == "steps.preview.outputs.exit_code != '0'" and "exit 1" in fail["run"]
    comment_fail = doc["jobs"]["comment"]["steps"][-1]
    assert comment_fail["if"] == "needs.preview.result != 'success'" and "exit 1" in comment_fail["run"]
    assert doc["jobs"]["comment"]["if"].startswith("${{ !cancelled()")  # the comment is posted even when a preview failed


def test_deploys_run_pulumi_up_and_check_verification() -> None:
    up = "bash scripts/pulumi-wait-lock.sh up --stack \"$STACK\" --yes --non-interactive"
    staging = runs(load("deploy-staging.yml"))
    assert up + " --color never --continue-on-error" in staging  # an image failing its test stops only what needs it
    assert "docker compose -f" in staging and "build" in staging
    assert 'pulumi stack output verified --stack "$STACK"' in staging
    prod = runs(load("promote-prod.yml"))
    assert up in prod
    assert "--stack staging --yes" not in prod and "docker compose" not in prod  # prod builds and pushes nothing
    rollback = runs(load("rollback.yml"))
    assert 'venv/bin/python -m deployctl pin --stack "$STACK" --release "$RELEASE"' in rollback
    assert 'bash scripts/pulumi-wait-lock.sh up --stack "$STACK" --refresh --yes --non-interactive' in rollback
    assert rollback.index("deployctl pin") < rollback.index("pulumi-wait-lock.sh up")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_releases_are_recorded_by_the_program_no_ledger_is_synced(path: Path) -> None:
    text = path.read_text()
    assert "aws s3 sync" not in text and "LEDGER" not in text and "deployctl up" not in text


def test_prod_is_told_the_approved_release_before_its_up() -> None:
    (job,) = load("promote-prod.yml")["jobs"].values()
    script = runs(load("promote-prod.yml"))
    assert job["env"]["EXPECTED_RELEASE"] == "${{ inputs.release }}"
    assert 'release=${EXPECTED_RELEASE:-$(pulumi stack output release_id --stack staging)}' in script
    assert script.index('pulumi config set expectRelease "$release" --stack "$STACK"') < script.index("pulumi-wait-lock.sh up")


def fake_pulumi(tmp_path: Path, locked_times: int) -> dict[str, str]:
    """A `pulumi` that is refused by the stack lock ``locked_times`` times, then succeeds; counts its runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{tmp_path}/runs" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "{tmp_path}/runs"\n'
        f'if [ $n -le {locked_times} ]; then echo "error: the stack is currently locked by 1 lock(s)." >&2; exit 255; fi\n'
        'echo "pulumi $*: done"\n'
    )
    (bin_dir / "pulumi").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "PULUMI_LOCK_POLL": "0"}


def wait_lock(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "pulumi-wait-lock.sh"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_deploy_waits_for_the_stack_lock_and_then_runs(tmp_path: Path) -> None:
    out = wait_lock(fake_pulumi(tmp_path, locked_times=2), "up", "--stack", "staging", "--yes")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs").read_text().strip() == "3"
    assert out.stdout.count("the stack is currently locked") == 2 and "pulumi up --stack staging --yes: done" in out.stdout
    assert out.stderr.count("pulumi-wait-lock: the stack is locked by another update; trying again") == 2


def test_the_wait_is_bounded_and_other_failures_are_not_retried(tmp_path: Path) -> None:
    env = fake_pulumi(tmp_path, locked_times=1000) | {"PULUMI_LOCK_WAIT": "0"}
    out = wait_lock(env, "up")
    assert out.returncode == 255 and "stayed locked for 0s; giving up" in out.stderr
    assert (tmp_path / "runs").read_text().strip() == "1"
    failing = tmp_path / "other"
    failing.mkdir()
    (failing / "pulumi").write_text('#!/bin/sh\necho "error: deploy failed" >&2; exit 1\n')
    (failing / "pulumi").chmod(0o755)
    out = wait_lock({"PATH": f"{failing}:/usr/bin:/bin", "PULUMI_LOCK_POLL": "0"}, "up")
    assert out.returncode == 1 and "trying again" not in out.stderr


def test_stage_release_images_plan() -> None:
    sys.path.insert(0, str(ROOT / ".github" / "scripts"))
    try:
        import stage_release_images as sri
    finally:
        sys.path.pop(0)
    catalog = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    staging = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    staging["config"]["bizosaas-deploy:services"] = {
        "brain-api": {"local_image": "brain-override:1"},
        "amazon-sourcing": {"enabled": False},
    }
    names = sri.local_images(catalog, "staging", staging)
    assert len(names) == 13 and "amazon-sourcing" not in names and names["brain-api"] == "brain-override:1"
    pulls, missing = sri.plan({"brain-api": "ghcr.io/o/b@sha256:" + "1" * 64}, names)
    assert pulls == [("ghcr.io/o/b@sha256:" + "1" * 64, "brain-override:1")] and len(missing) == 12 and "brain-api" not in missing
    real = sri.local_images(catalog, "staging", yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text()))
    assert len(real) == 14 and real["brain-api"] == "bizosaas-brain-gateway:latest"


# --- a live environment per pull request (issue 24) ----------------------------------------------------------------


STATE_AND_KEYS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULUMI_CONFIG_PASSPHRASE", "DOKPLOY_API_KEY", "PR_REGISTRY_TOKEN", "GITHUB_TOKEN")
"""What every deployctl pr step needs: the PR environments' state keys and passphrase, their Dokploy key, the registry and GitHub."""


def test_pr_environments_follow_the_pull_request_one_run_at_a_time_and_a_daily_sweep() -> None:
    doc = load("pr-environment.yml")
    assert triggers(doc) == {"pull_request_target": {"types": ["opened", "synchronize", "reopened", "closed"], "branches": ["main"]}}
    assert doc["concurrency"] == {"group": "pr-environment-${{ github.event.pull_request.number }}", "cancel-in-progress": False}
    assert doc["jobs"]["up"]["if"] == "github.event.action != 'closed'"
    assert doc["jobs"]["destroy"]["if"] == "github.event.action == 'closed'"
    assert doc["env"]["PR_NUMBER"] == "${{ github.event.pull_request.number }}"  # reaches the scripts through env only
    sweep = load("pr-environment-sweep.yml")
    assert triggers(sweep) == {"schedule": [{"cron": "17 3 * * *"}], "workflow_dispatch": {}}  # daily, and by hand
    assert sweep["concurrency"] == {"group": "pr-environment-sweep", "cancel-in-progress": False}


def test_the_pull_requests_code_runs_only_after_a_reviewer_approved_that_commit() -> None:
    up = load("pr-environment.yml")["jobs"]["up"]
    assert up["environment"] == {"name": "pr-environments"} and "pr-environments" in reviewed_environments()
    assert up["steps"][0]["with"] == {"ref": "${{ github.event.pull_request.head.sha }}", "persist-credentials": False}
    build = next(s for s in up["steps"] if s.get("name", "").startswith("Build the images"))
    assert "secrets." not in yaml.safe_dump(build) and "secrets." not in yaml.safe_dump(up.get("env", {}))
    deploy = up["steps"][-1]
    assert deploy["run"] == 'venv/bin/python -m deployctl pr up --pr "$PR_NUMBER"'
    preview_set = ("PR_SECRET_DATABASE_URL", "PR_SECRET_REDIS_BASE_URL", "PR_SECRET_OPENAI_API_KEY")
    assert set(deploy["env"]) == {*STATE_AND_KEYS, *preview_set, "PR_SECRETS_SEED", "PR_PREVIEW_SECRETS", "PR_REGISTRY_PULL_TOKEN"}
    required = deploy["env"]["PR_PREVIEW_SECRETS"].split(",")  # each has its value in the step
    assert {f"PR_SECRET_{name}" for name in required} == set(preview_set)


def test_destroy_and_the_sweep_run_mains_code_only() -> None:
    jobs = {"destroy": load("pr-environment.yml")["jobs"]["destroy"], "sweep": load("pr-environment-sweep.yml")["jobs"]["sweep"]}
    for action, job in jobs.items():
        assert job["environment"] == {"name": "pr-environments-cleanup"} and "pr-environments-cleanup" in main_only_environments()
        checkouts = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert [c.get("with") for c in checkouts] == [{"persist-credentials": False}], action  # main, never the pull request
        assert f"venv/bin/python -m deployctl pr {action}" in job["steps"][-1]["run"]
        assert set(job["steps"][-1]["env"]) == set(STATE_AND_KEYS)


@pytest.mark.parametrize("name", PR_WORKFLOWS)
def test_pr_environments_never_hold_staging_or_prods_secrets(name: str) -> None:
    doc = load(name)
    for job in doc["jobs"].values():
        assert job["environment"]["name"] in ("pr-environments", "pr-environments-cleanup")
    text = (WORKFLOWS / name).read_text()
    for theirs in ("GHCR_PUSH_TOKEN", "STATE_READONLY_ACCESS_KEY_ID", "vars.PULUMI_BACKEND_URL"):
        assert theirs not in text


def test_the_preview_comment_keeps_the_pr_environment_section() -> None:
    from deployctl.preview import environment

    script = next(s for s in load("preview.yml")["jobs"]["comment"]["steps"] if "github-script" in s.get("uses", ""))["with"]["script"]
    match = re.search(r"mine\.body\.match\(/(.+?)/\);", script)
    assert match and "body = section ?" in script
    body = environment.merge(f"{environment.PREVIEW_MARKER}\n**staging**: no changes.\n", "### PR environment `pr-7`: verified")
    found = re.search(match.group(1).replace("\\/", "/"), body)  # the JavaScript regular expression, read by Python's re
    assert found and found.group(0) == environment.section_of(body)
