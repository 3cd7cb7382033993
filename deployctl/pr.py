"""A live environment per pull request: ``python -m deployctl pr up|destroy|sweep|list`` (README: Pull-request environments).

    python -m deployctl pr up      --pr N   the stack pr-N made from the template (every run), `pulumi up`; when it is new and
                                            the cap is reached, the oldest environment is destroyed first and its PR told;
                                            the PR's comment gains the URLs and what verification saw
    python -m deployctl pr destroy --pr N   `pulumi destroy`, the PR's tags deleted from the registry, `pulumi stack rm` and
                                            what the engine leaves of the stack in the backend: nothing of it is left
    python -m deployctl pr sweep            destroy every PR environment whose pull request is closed (a missed close event)
    python -m deployctl pr list             the PR environments in the state backend, oldest first

Settings come from the environment (GitHub Actions: repository variables and the pr-environments environment's secrets):

    PR_BASE_DOMAIN        up: the routes go under pr-N.<it> (staging.bizoholic.com)
    PR_ENVIRONMENT_CAP    how many run at once (default 3; 0: no cap)
    PR_TEMPLATE           the template (default stacks/pr.yaml)
    PR_SECRETS_SEED       makes the throw-away secrets: the same for a PR on every run, another per PR (required under CI;
                          elsewhere one per machine under .state)
    PR_PREVIEW_SECRETS    catalog secrets that must come from the environment, comma-separated (DATABASE_URL,REDIS_BASE_URL)
    PR_SECRET_<NAME>      the value of catalog secret NAME for every PR environment (the preview set)
    PR_REGISTRY_TOKEN, PR_REGISTRY_PULL_TOKEN   the tokens of the template's registryUser and registryPullUser
    PR_REGISTRY_API       v2 | ghcr: how a PR's tags are deleted (default: ghcr for ghcr.io, else v2)
    PR_PACKAGES_TOKEN     ghcr: a token that may delete the package versions (default GITHUB_TOKEN)
    DOKPLOY_API_KEY       the PR environments' own Dokploy key (read by the program from the environment, never stored)
    GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_TOKEN    the pull requests (their state, the comment)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.program import catalog_file
from components.stack_config import API_KEY_ENV, PROJECT
from core import pr_env
from core.catalog import load_catalog_file, secret_names
from deployctl import engine, github, operations, plugins, registry_tags
from deployctl.preview import environment
from probes import state_backend

TEMPLATE = engine.PROJECT_DIR / "stacks" / "pr.yaml"
DEFAULT_CAP = 3
IMAGE_TYPE = "docker:index/registryImage:RegistryImage"
SECRET_CONFIG = {"registryToken": "PR_REGISTRY_TOKEN", "registryPullToken": "PR_REGISTRY_PULL_TOKEN"}
"""Secret stack keys the template needs when it names their user: the environment variable each comes from."""
USERS = {"registryToken": "registryUser", "registryPullToken": "registryPullUser"}


class PrError(RuntimeError):
    """A PR environment that cannot be made or removed as asked: the message says why and what to set."""


def say(line: str) -> None:
    print(f"[pr {time.strftime('%H:%M:%S')}] {line}", flush=True)


@dataclass
class Settings:
    """One repository's PR-environment settings (the environment variables of the module's docstring)."""

    base_domain: str = ""
    cap: int = DEFAULT_CAP
    template: Path = TEMPLATE
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            cap = int(env.get("PR_ENVIRONMENT_CAP") or DEFAULT_CAP)
        except ValueError:
            raise PrError(f"PR_ENVIRONMENT_CAP {env.get('PR_ENVIRONMENT_CAP')!r} should be a whole number (0: no cap)") from None
        template = Path(env.get("PR_TEMPLATE") or TEMPLATE)
        template = template if template.is_absolute() else engine.PROJECT_DIR / template
        return cls(str(env.get("PR_BASE_DOMAIN") or "").strip(), cap, template, env)

    def template_config(self) -> dict[str, Any]:
        if not self.template.is_file():
            raise PrError(f"the PR template {self.template} does not exist (PR_TEMPLATE)")
        doc = yaml.safe_load(self.template.read_text()) or {}
        return dict(doc.get("config") or {})

    def seed(self) -> str:
        if self.environ.get("PR_SECRETS_SEED"):
            return str(self.environ["PR_SECRETS_SEED"])
        if self.environ.get("CI"):
            raise PrError("PR_SECRETS_SEED is not set: under CI every run would make other throw-away secrets (and redeploy every "
                          "compose project); set it in the pr-environments environment")
        return engine.machine_secret("pr-secrets-seed")


def stack_file(stack: str) -> Path:
    return engine.PROJECT_DIR / f"Pulumi.{stack}.yaml"


# --- the state backend ----------------------------------------------------------------------------------------------------


def backend() -> state_backend.Backend:
    engine.engine_env()  # PULUMI_BACKEND_URL (the .state file backend by default)
    return state_backend.open_backend(state_backend.backend_url())


def environments() -> list[pr_env.Environment]:
    """The PR environments in the state backend (stacks ``pr-N``), oldest first."""
    store = backend()
    found = [pr_env.Environment(name, n, state_backend.first_update_ns(store, PROJECT, name))
             for name in state_backend.stack_names(store, PROJECT) if (n := pr_env.pr_number(name)) is not None]
    return sorted(found, key=lambda e: (e.created or 2**63, e.pr))


def _remove_leftovers(stack: str) -> int:
    """What the engine keeps of a removed stack in a diy backend (its last checkpoint as ``<stack>.json.bak``, the copies
    under ``.pulumi/backups/``, any history left): deleted; how many objects."""
    store = backend()
    names = {f"{stack}{s}" for s in (".json", ".json.bak", ".json.gz", ".json.gz.bak")}
    keys = [k for k in store.keys(f".pulumi/stacks/{PROJECT}/") if k.rsplit("/", 1)[-1] in names]
    keys += store.keys(f".pulumi/backups/{PROJECT}/{stack}/") + store.keys(f".pulumi/history/{PROJECT}/{stack}/")
    for key in keys:
        if isinstance(store, state_backend.FileBackend):
            for path in (store.root / key, store.root / f"{key}.attrs"):
                path.unlink(missing_ok=True)
        elif isinstance(store, state_backend.S3Backend):
            store.client.delete_object(Bucket=store.bucket, Key=store.prefix + key)
    return len(keys)


# --- the stack of one PR ------------------------------------------------------------------------------------------------


def protected_registries() -> list[str]:
    """Where the shipped and local stacks push (a PR's images must go elsewhere: their tags are deleted with the PR)."""
    found = []
    files = [*engine.PROJECT_DIR.glob("Pulumi.*.yaml"), *(engine.PROJECT_DIR / "stacks").glob("*.yaml")]
    for path in files:
        if pr_env.pr_number(path.stem.removeprefix("Pulumi.")) is not None or path == TEMPLATE:
            continue
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        if config.get(f"{PROJECT}:registry"):
            found.append(str(config[f"{PROJECT}:registry"]))
    return found


def secret_values(stack: str, settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Every catalog secret of the PR stack: its preview-set value (``PR_SECRET_<NAME>``), else a throw-away one; the
    problems (a secret PR_PREVIEW_SECRETS names without its value)."""
    env = settings.environ
    required = {s.strip() for s in str(env.get("PR_PREVIEW_SECRETS") or "").split(",") if s.strip()}
    names = secret_names(load_catalog_file(catalog_file()))
    problems = [f"stack {stack}: {PROJECT}:secrets/{n}: PR_PREVIEW_SECRETS names it, but PR_SECRET_{n} is not set (the preview set "
                "is in the pr-environments environment)" for n in sorted(required) if not env.get(f"PR_SECRET_{n}")]
    problems += [f"stack {stack}: PR_PREVIEW_SECRETS: {n} is not a secret of the catalog ({', '.join(sorted(names))})"
                 for n in sorted(required - names)]
    seed = settings.seed()
    return {n: str(env.get(f"PR_SECRET_{n}") or pr_env.throwaway_secret(seed, stack, n)) for n in sorted(names)}, problems


def write_stack(stack: str, config: Mapping[str, Any], secrets: Mapping[str, str], settings: Settings) -> None:
    """Pulumi.pr-N.yaml from the config (every run: the template's changes apply), its encryption salt kept, then the secrets
    set on stdin (never on a command line): the catalog's as one object, and the registry tokens the template's users need."""
    path = stack_file(stack)
    old = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    doc: dict[str, Any] = {"encryptionsalt": old["encryptionsalt"]} if old.get("encryptionsalt") else {}
    doc["config"] = dict(config)
    header = f"# made by `python -m deployctl pr up` from {settings.template.name} (rewritten on every run; secrets set on stdin)\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    engine.stack(stack)  # selected, or created in the backend
    engine.set_secret(stack, f"{PROJECT}:secrets", json.dumps(dict(secrets), sort_keys=True))
    for key, variable in SECRET_CONFIG.items():
        if f"{PROJECT}:{USERS[key]}" in config:
            engine.set_secret(stack, f"{PROJECT}:{key}", str(settings.environ.get(variable)))


def _needs(settings: Settings, config: Mapping[str, Any], stack: str) -> list[str]:
    """What the environment must give every run: the Dokploy key, the registry tokens the template's users need."""
    missing = [] if settings.environ.get(API_KEY_ENV) else [
        f"stack {stack}: {API_KEY_ENV} is not set: the PR environments' own Dokploy API key (never staging's), from the "
        "pr-environments environment"]
    missing += [f"stack {stack}: {PROJECT}:{key}: {variable} is not set ({USERS[key]} is in the template)"
                for key, variable in SECRET_CONFIG.items() if f"{PROJECT}:{USERS[key]}" in config and not settings.environ.get(variable)]
    return missing


# --- up -------------------------------------------------------------------------------------------------------------------


def up(pr: int, settings: Settings, gh: github.PullRequests) -> int:
    """Make room under the cap, write the stack, `pulumi up`, put the URLs and the verification in the PR's comment."""
    stack = pr_env.stack_name(pr)
    config, problems = pr_env.pr_config(settings.template_config(), pr, settings.base_domain, protected_registries())
    secrets, more = secret_values(stack, settings)
    problems += more + _needs(settings, config, stack)
    if problems:  # before anything is destroyed, pushed or deployed
        raise PrError("\n".join(problems))
    running = environments()
    for old in pr_env.evictions(running, stack, settings.cap):
        say(f"{len(running)} PR environments run, at most {settings.cap}: destroying the oldest, {old.stack}, to make room for {stack}")
        why = (f"Destroyed to make room for #{pr}'s environment: at most {settings.cap} PR environments run at once, and this one "
               "was the oldest. Push a commit (or re-run the workflow) to bring it back.")
        removed = destroy_stack(old.stack, settings)
        tell(gh.set_section, old.pr, environment.destroyed(old.stack, why, removed))
        tell(gh.comment, old.pr, f"The PR environment `{old.stack}` was destroyed. {why}")
    write_stack(stack, config, secrets, settings)
    pushed: list[str] = []
    say(f"pulumi up --stack {stack} (routes under {pr_env.pr_domain(pr, settings.base_domain)})")
    try:
        result, elapsed = operations.up(stack, on_event=lambda e: pushed.extend(_pushed(e)))
    except operations.EngineFailed as exc:
        tell(gh.set_section, pr, environment.failed(stack, exc.problems))
        raise
    outputs = {k: v.value for k, v in result.outputs.items()}
    tell(gh.set_section, pr, environment.deployed(stack, outputs, elapsed, sorted(set(pushed))))
    for service, url in sorted(environment.urls(outputs).items()):
        print(f"  {service:28} {url}")
    verified = outputs.get("verified") is True
    say(f"{stack}: release {outputs.get('release_id')} {'verified' if verified else 'NOT verified'} in {elapsed:.1f}s; "
        f"pushed: {', '.join(sorted(set(pushed))) or 'nothing'}")
    return 0 if verified else 3


def _pushed(event: auto.EngineEvent) -> list[str]:
    """The service whose image this event says was pushed (a RegistryImage created, updated or replaced)."""
    out = event.res_outputs_event
    if out is None or out.metadata.type != IMAGE_TYPE or getattr(out.metadata.op, "value", out.metadata.op) == "same":
        return []
    return [out.metadata.urn.rsplit("::", 1)[-1].removesuffix("-image")]


# --- destroy ------------------------------------------------------------------------------------------------------------


def destroy(pr: int, settings: Settings, gh: github.PullRequests | None, why: str) -> int:
    stack = pr_env.stack_name(pr)
    removed = destroy_stack(stack, settings)
    if gh is not None:
        tell(gh.set_section, pr, environment.destroyed(stack, why, removed))
    return 0


def tell(call: Callable[[int, str], None], pr: int, text: str) -> None:
    """A comment to a pull request: a failure to post it is said, and changes nothing of what was deployed or destroyed."""
    try:
        call(pr, text)
    except github.GitHubError as exc:
        say(f"warning: the pull request's comment was not updated: {exc}")


def destroy_stack(stack: str, settings: Settings) -> list[str]:
    """`pulumi destroy` (compose projects, their containers and routes, the Dokploy project), the PR's tag in each image
    repository, `pulumi stack rm` and the engine's leftovers of it: one line per thing removed."""
    removed: list[str] = []
    known = stack in state_backend.stack_names(backend(), PROJECT)
    repositories = _repositories(stack, settings) | (_state_repositories(stack) if known else set())
    if known:
        missing = _needs(settings, {}, stack)
        if missing:
            raise PrError("\n".join(missing))
        st = engine.stack(stack)
        say(f"pulumi destroy --stack {stack}")
        result = operations.run(st.destroy, None, on_output=operations.print_line, color="never")
        deleted = sum(n for op, n in (result.summary.resource_changes or {}).items() if op == "delete")
        removed.append(f"destroyed stack {stack}: {deleted} resources (its compose projects, their containers and routes, "
                       f"Dokploy project bizosaas-{stack})")
    for line in delete_tags(stack, repositories, settings):
        removed.append(line)
    if known:
        engine.stack(stack).workspace.remove_stack(stack)
        removed.append(f"removed stack {stack} from the state backend")
    gone = _remove_leftovers(stack)
    if gone:
        removed.append(f"deleted {gone} object(s) the engine keeps of a removed stack (its checkpoint backups)")
    stack_file(stack).unlink(missing_ok=True)
    for line in removed:
        say(line)
    return removed or [f"nothing of {stack} was left"]


def _repositories(stack: str, settings: Settings) -> set[str]:
    """The image repositories a PR stack pushes to: the template's registry, one per catalog service."""
    registry = str(settings.template_config().get(f"{PROJECT}:registry") or "").rstrip("/")
    services = load_catalog_file(catalog_file()).get("services") or {}
    return {f"{registry}/{name}" for name in services} if registry else set()


def _state_repositories(stack: str) -> set[str]:
    """The repositories the stack's state says it pushed to (a template edited since is still cleaned)."""
    resources = (engine.stack(stack).export_stack().deployment or {}).get("resources") or []
    names = [str((r.get("inputs") or {}).get("name") or "") for r in resources if r.get("type") == IMAGE_TYPE]
    return {n.rsplit(":", 1)[0] for n in names if ":" in n}


def delete_tags(stack: str, repositories: set[str], settings: Settings) -> list[str]:
    """Delete tag ``stack`` (``pr-N``) from every repository (registry_tags: never another tag); a line per tag removed."""
    lines = []
    by_host: dict[str, list[str]] = {}
    for repo in sorted(repositories):
        host, name = repo.split("/", 1)
        by_host.setdefault(host, []).append(name)
    config = settings.template_config()
    user = str(config.get(f"{PROJECT}:registryUser") or "")
    auth = (user, str(settings.environ.get("PR_REGISTRY_TOKEN") or "")) if user else None
    for host, names in by_host.items():
        registry = registry_tags.RegistryV2(host, auth)
        delete = _ghcr_delete(names[0].split("/", 1)[0], settings) if _api(host, settings) == "ghcr" else None
        for name in names:
            outcome = registry_tags.delete_tag(registry, name, stack, delete)
            if outcome.action != "absent":
                lines.append(f"registry: {outcome.line()}")
    return lines


def _api(host: str, settings: Settings) -> str:
    api = str(settings.environ.get("PR_REGISTRY_API") or ("ghcr" if host == "ghcr.io" else "v2"))
    if api not in ("v2", "ghcr"):
        raise PrError(f"PR_REGISTRY_API {api!r} should be v2 (the Registry HTTP API's DELETE) or ghcr (the GitHub Packages API)")
    return api


def _ghcr_delete(owner: str, settings: Settings) -> Callable[[str, str], str]:
    env = settings.environ
    token = str(env.get("PR_PACKAGES_TOKEN") or env.get("GITHUB_TOKEN") or "")
    if not token:
        raise PrError("deleting GHCR package versions needs PR_PACKAGES_TOKEN (or GITHUB_TOKEN) with packages: write")
    api = github.GitHub(str(env.get("GITHUB_REPOSITORY") or "unknown/unknown"), token, str(env.get("GITHUB_API_URL") or github.DEFAULT_API))
    packages = github.Packages(api, owner)
    return lambda name, digest: packages.delete_digest(name.split("/", 1)[1], digest)


# --- sweep and list -------------------------------------------------------------------------------------------------------


def sweep(settings: Settings, gh: github.PullRequests) -> int:
    """Destroy every PR environment whose pull request is closed; keep the others (and any GitHub cannot tell about)."""
    failed = 0
    envs = environments()
    if not envs:
        say("no PR environment in the state backend")
    for env in envs:
        try:
            state = gh.state(env.pr)
        except github.GitHubError as exc:
            say(f"{env.stack}: kept: cannot tell whether pull request #{env.pr} is closed ({exc})")
            failed += 1
            continue
        if state != "closed":
            say(f"{env.stack}: kept: pull request #{env.pr} is {state}")
            continue
        say(f"{env.stack}: pull request #{env.pr} is closed: destroying its environment")
        why = "Destroyed by the daily sweep: the pull request is closed (its close event did not remove it)."
        removed = destroy_stack(env.stack, settings)
        tell(gh.set_section, env.pr, environment.destroyed(env.stack, why, removed))
    return 1 if failed else 0


def list_environments() -> int:
    envs = environments()
    for env in envs:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(env.created / 1e9)) if env.created else "never updated"
        print(f"{env.stack:12} PR #{env.pr:<8} first update {since}")
    if not envs:
        print("no PR environment in the state backend")
    return 0


# --- the command line ---------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="deployctl pr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "destroy", "sweep", "list"])
    parser.add_argument("--pr", type=int, help="up, destroy: the pull request's number")
    parser.add_argument("--why", default="Destroyed: the pull request was closed.", help="destroy: what the PR's comment says")
    args = parser.parse_args(argv)
    if args.action in ("up", "destroy") and (args.pr is None or args.pr < 1):
        parser.error(f"{args.action} needs --pr N (the pull request's number)")
    env = engine.engine_env()
    missing = plugins.missing_message(f"pr {args.action}", env, engine.standins_enabled()) if args.action != "list" else ""
    if missing:
        print(missing, file=sys.stderr)
        return 1
    try:
        settings = Settings.from_env()
        if args.action == "list":
            return list_environments()
        gh = github.GitHub.from_env()
        if args.action == "up":
            return up(args.pr, settings, gh)
        if args.action == "destroy":
            return destroy(args.pr, settings, gh, args.why)
        return sweep(settings, gh)
    except operations.EngineFailed as exc:
        print(f"deployctl: pr {args.action}{f' --pr {args.pr}' if args.pr else ''} failed:", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except (PrError, github.GitHubError, registry_tags.RegistryError, state_backend.BackendError) as exc:
        print(f"deployctl: pr {args.action}: {exc}", file=sys.stderr)
        return 1
