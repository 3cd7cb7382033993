"""STAND-IN implementations of ``docker:index/tag:Tag`` and ``docker:index/registryImage:RegistryImage``.

Behaviour follows the upstream resources (kreuzwerker terraform-provider-docker, bridged by
pulumi-docker 5.2.0) with one deliberate, documented extension each: a Tag whose source image id
changed is replaced, and a RegistryImage whose local image changed since the push is updated
(re-pushed). Set ``PULUMI_DOCKER_STANDIN_UPSTREAM_DIFF=1`` to switch both extensions off and diff
exactly on inputs like the real provider.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import Credentials, ProviderConfig
from .diffing import Diff, as_bool_default_false, as_set, compare_inputs
from .engine import DockerCLI, DockerError, log, scrub
from .props import UNKNOWN, Props, contains_unknown, plain
from .registry import ImageRef, RegistryClient, RegistryError, server_url

TAG = "docker:index/tag:Tag"
REGISTRY_IMAGE = "docker:index/registryImage:RegistryImage"


class ResourceError(Exception):
    """A resource operation failed; the message is shown to the user and holds no secret."""


@dataclass
class Context:
    """What a resource operation needs: the configured provider and its Docker client."""

    config: ProviderConfig
    docker: DockerCLI

    @property
    def upstream_diff(self) -> bool:
        """True when the stand-in's extra change detection is switched off."""
        return os.environ.get("PULUMI_DOCKER_STANDIN_UPSTREAM_DIFF", "").lower() in ("1", "true", "yes")


@dataclass
class CheckResult:
    """Checked inputs plus (property, reason) failures."""

    inputs: Props
    failures: list[tuple[str, str]]


def _known_str(props: Mapping[str, Any], key: str) -> str | None:
    """The plain string value of ``key``, or None when it is absent or unknown."""
    value = props.get(key)
    if value is None or contains_unknown(value):
        return None
    value = plain(value)
    return str(value) if value not in (None, "") else None


def _require(news: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, f"Missing required property '{k}'") for k in keys if news.get(k) in (None, "")]


def _input_subset(props: Mapping[str, Any], keys: tuple[str, ...]) -> Props:
    return {k: props[k] for k in keys if k in props and props[k] is not None}


class TagResource:
    """STAND-IN ``docker.Tag``: ``docker tag sourceImage targetImage``; output ``sourceImageId``."""

    token = TAG
    inputs = ("sourceImage", "targetImage", "tagTriggers")

    def check(self, news: Props, olds: Props, name: str, seed: bytes) -> CheckResult:
        """Validate required inputs; unknown values pass (preview)."""
        return CheckResult(dict(news), _require(news, ("sourceImage", "targetImage")))

    def diff(self, ctx: Context, olds: Props, news: Props, ignore: list[str]) -> Diff:
        """Every input forces a new tag (ForceNew upstream); so does a changed source image id."""
        diff = compare_inputs(olds, news, self.inputs, self.inputs, ignore, {"tagTriggers": as_set})
        if not ctx.upstream_diff and "sourceImage" not in diff.diffs:
            self._source_id_diff(ctx, olds, diff)
        return diff

    def _source_id_diff(self, ctx: Context, olds: Props, diff: Diff) -> None:
        source, old_id = _known_str(olds, "sourceImage"), _known_str(olds, "sourceImageId")
        if not source or not old_id:
            return
        try:
            current = ctx.docker.image_id(source)
        except DockerError as exc:
            log(f"Tag diff: cannot inspect {source}: {exc}")
            return
        if current and current != old_id:
            log(f"Tag diff: source image {source} is now {current} (was {old_id}): replace")
            diff.add("sourceImageId", old_id, current, replace=True, input_diff=False)

    def create(self, ctx: Context, news: Props, preview: bool) -> tuple[str, Props]:
        """Tag (unless preview); id is ``<sourceImage>.<targetImage>`` like upstream."""
        if preview:
            return "", {**news, "sourceImageId": UNKNOWN}
        source, target = str(plain(news["sourceImage"])), str(plain(news["targetImage"]))
        source_id = self._tag(ctx, source, target)
        rid = f"{source}.{target}"
        return rid, {**news, "id": rid, "sourceImageId": source_id}

    def _tag(self, ctx: Context, source: str, target: str) -> str:
        try:
            if ctx.docker.image_id(source) is None:
                raise ResourceError(
                    f"failed to create docker tag {target}: source image {source!r} does not exist in the "
                    f"Docker daemon at {ctx.docker.host} (build or pull it first)"
                )
            ctx.docker.tag(source, target)
            source_id = ctx.docker.image_id(source)
        except DockerError as exc:
            raise ResourceError(f"failed to create docker tag {target} from {source}: {exc}") from None
        if not source_id:
            raise ResourceError(f"source image {source!r} disappeared while tagging {target}")
        log(f"tagged {source} ({source_id}) as {target}")
        return source_id

    def update(self, ctx: Context, rid: str, olds: Props, news: Props, preview: bool) -> Props:
        """Not reached upstream (all inputs force replacement); re-tags like create."""
        if preview:
            return {**news, "id": rid, "sourceImageId": UNKNOWN}
        source, target = str(plain(news["sourceImage"])), str(plain(news["targetImage"]))
        return {**news, "id": rid, "sourceImageId": self._tag(ctx, source, target)}

    def read(self, ctx: Context, rid: str, props: Props) -> tuple[str, Props, Props]:
        """Upstream's read is a no-op: the state is returned as it is."""
        return rid, dict(props), _input_subset(props, self.inputs)

    def delete(self, ctx: Context, rid: str, props: Props) -> None:
        """Upstream deletes neither the source nor the target image; neither does the stand-in."""
        log(f"Tag delete {rid}: nothing to do (the real provider leaves both images in place)")


class RegistryImageResource:
    """STAND-IN ``docker.RegistryImage``: push ``name``; output ``sha256Digest``; id = digest."""

    token = REGISTRY_IMAGE
    inputs = ("name", "keepRemotely", "insecureSkipVerify", "authConfig", "triggers", "build")
    force_new = ("name", "triggers", "build")

    def check(self, news: Props, olds: Props, name: str, seed: bytes) -> CheckResult:
        """Defaults like upstream (keepRemotely/insecureSkipVerify false); ``build`` is not implemented."""
        checked = dict(news)
        failures: list[tuple[str, str]] = []
        if checked.get("build") not in (None, {}):
            failures.append(("build", "RegistryImage.build is not implemented by this stand-in"))
        if checked.get("name") in (None, ""):
            suffix = hashlib.sha256(seed or name.encode()).hexdigest()[:7]
            checked["name"] = olds.get("name") or f"{name}-{suffix}"
        checked.setdefault("keepRemotely", False)
        checked.setdefault("insecureSkipVerify", False)
        return CheckResult(checked, failures)

    def diff(self, ctx: Context, olds: Props, news: Props, ignore: list[str]) -> Diff:
        """name/triggers/build replace; other inputs update; a changed local image updates (re-push)."""
        diff = compare_inputs(
            olds,
            news,
            self.inputs,
            self.force_new,
            ignore,
            {"keepRemotely": as_bool_default_false, "insecureSkipVerify": as_bool_default_false},
        )
        if not ctx.upstream_diff and not diff.replaces and self._local_changed(ctx, olds, news):
            diff.add("sha256Digest", plain(olds.get("sha256Digest")), None, replace=False, input_diff=False)
        return diff

    def _local_changed(self, ctx: Context, olds: Props, news: Props) -> bool:
        name = _known_str(news, "name")
        if not name:
            return False
        try:
            current = ctx.docker.image_id(name)
            if current is None:
                log(f"RegistryImage diff: local image {name} not found; no re-push detected")
                return False
            pushed = _known_str(olds, "localImageId")
            if pushed:
                return current != pushed
            digest = _known_str(olds, "sha256Digest")
            return not digest or f"{_repo_of(name)}@{digest}" not in ctx.docker.repo_digests(name)
        except DockerError as exc:
            log(f"RegistryImage diff: cannot inspect {name}: {exc}")
            return False

    def create(self, ctx: Context, news: Props, preview: bool) -> tuple[str, Props]:
        """Push (unless preview); id and ``sha256Digest`` are the registry's manifest digest."""
        if preview:
            return "", {**news, "sha256Digest": UNKNOWN, "localImageId": UNKNOWN}
        digest, local_id = self._push(ctx, plain(news))
        return digest, {**news, "id": digest, "sha256Digest": digest, "localImageId": local_id}

    def update(self, ctx: Context, rid: str, olds: Props, news: Props, preview: bool) -> Props:
        """Re-push when the local image changed; otherwise refresh the digest like upstream's update."""
        changed = not ctx.upstream_diff and self._local_changed(ctx, olds, news)
        if preview:
            computed = {"sha256Digest": UNKNOWN, "localImageId": UNKNOWN} if changed else {}
            return {**olds, **news, "id": rid, **computed}
        if changed:
            digest, local_id = self._push(ctx, plain(news))
            return {**news, "id": rid, "sha256Digest": digest, "localImageId": local_id}
        digest = self._remote_digest(ctx, plain(news), plain(olds.get("sha256Digest")))
        return {**news, "id": rid, "sha256Digest": digest, "localImageId": olds.get("localImageId")}

    def read(self, ctx: Context, rid: str, props: Props) -> tuple[str, Props, Props]:
        """Refresh ``sha256Digest`` from the registry; a tag the registry cannot serve means gone (id "")."""
        name = _known_str(props, "name")
        if not name:
            return rid, dict(props), _input_subset(props, self.inputs)
        flat = plain(props)
        ref = ImageRef.parse(name)
        try:
            creds = self._credentials(ctx, ref, flat.get("authConfig"))
            digest = self._client(creds, flat).manifest_digest(ref)
        except (RegistryError, ResourceError) as exc:
            log(f"RegistryImage read {name}: {exc}; treating it as deleted, like the real provider")
            return "", {}, {}
        return rid, {**props, "sha256Digest": digest}, _input_subset(props, self.inputs)

    def delete(self, ctx: Context, rid: str, props: Props) -> None:
        """keepRemotely: nothing; else delete the manifest by digest (then by tag), like upstream."""
        flat = plain(props)
        if flat.get("keepRemotely") or not flat.get("name"):
            return
        ref = ImageRef.parse(str(flat["name"]))
        creds = self._credentials(ctx, ref, flat.get("authConfig"))
        client = self._client(creds, flat)
        try:
            client.delete_manifest(ref, str(flat.get("sha256Digest") or rid))
        except RegistryError as first:
            try:
                client.delete_manifest(ref, ref.tag)
            except RegistryError:
                raise ResourceError(f"Got error deleting registry image {flat['name']}: {first}") from None
        log(f"deleted {flat['name']} ({flat.get('sha256Digest')}) from {creds.server}")

    def _push(self, ctx: Context, news: Mapping[str, Any]) -> tuple[str, str]:
        name = str(news["name"])
        ref = ImageRef.parse(name)
        creds = self._credentials(ctx, ref, news.get("authConfig"))
        local_id = self._local_id(ctx, name)
        printed = self._docker_push(ctx, name, ref, creds)
        digest = self._remote_digest(ctx, news, None, creds=creds)
        if printed and printed != digest:
            log(f"push of {name}: docker printed {printed} but the registry serves {digest}; using the registry's")
        log(f"pushed {name} ({local_id}) to {creds.server}: {digest}")
        return digest, local_id

    def _local_id(self, ctx: Context, name: str) -> str:
        try:
            local_id = ctx.docker.image_id(name)
        except DockerError as exc:
            raise ResourceError(f"Error pushing docker image {name}: {exc}") from None
        if not local_id:
            raise ResourceError(
                f"Error pushing docker image {name}: no such image in the Docker daemon at {ctx.docker.host} "
                "(tag the local image with this name first, e.g. with docker.Tag)"
            )
        return local_id

    def _docker_push(self, ctx: Context, name: str, ref: ImageRef, creds: Credentials) -> str | None:
        with ctx.docker.session() as cfg:
            try:
                if creds.username and not creds.auth_disabled:
                    ctx.docker.login(cfg, ref.registry, creds.username, creds.password)
                return ctx.docker.push(name, cfg)
            except DockerError as exc:
                reason = scrub(str(exc), creds.password)
                raise ResourceError(f"Error pushing docker image {name} to registry {ref.registry}: {reason}") from None

    def _remote_digest(self, ctx: Context, news: Mapping[str, Any], fallback: str | None, creds: Credentials | None = None) -> str:
        name = str(news["name"])
        ref = ImageRef.parse(name)
        creds = creds or self._credentials(ctx, ref, news.get("authConfig"))
        try:
            return self._client(creds, news).manifest_digest(ref)
        except RegistryError as exc:
            if fallback:
                log(f"RegistryImage update {name}: {exc}; keeping {fallback}")
                return fallback
            hint = ""
            if creds.server.startswith("https://"):
                hint = (
                    f" (like the real provider, the stand-in reads the digest from {creds.server}: a registryAuth "
                    "address without a scheme means https://; write http://host:port for a plain-HTTP registry)"
                )
            raise ResourceError(f"Got error getting registry image digest for {name} from registry {ref.registry}: {exc}{hint}") from None

    def _credentials(self, ctx: Context, ref: ImageRef, auth_config: Any) -> Credentials:
        if isinstance(auth_config, Mapping) and auth_config.get("address"):
            return Credentials(
                server=server_url(str(auth_config["address"])),
                username=str(auth_config.get("username") or ""),
                password=str(auth_config.get("password") or ""),
            )
        creds = ctx.config.credentials_for(ref.registry)
        if creds is None:
            known = ", ".join(sorted(ctx.config.auths)) or "none"
            raise ResourceError(
                f"Unable to get authConfig for registry {ref.registry}: no registryAuth entry for that host in the "
                f"provider configuration (configured: {known}); the real pulumi-docker 5.2.0 fails the same way. "
                f"Add registryAuth [{{address: 'http://{ref.registry}', authDisabled: true}}] for a registry "
                "without authentication, or username/password."
            )
        return creds

    @staticmethod
    def _client(creds: Credentials, props: Mapping[str, Any]) -> RegistryClient:
        return RegistryClient(
            base_url=creds.server,
            username="" if creds.auth_disabled else creds.username,
            password="" if creds.auth_disabled else creds.password,
            insecure_skip_verify=bool(props.get("insecureSkipVerify")),
        )


def _repo_of(name: str) -> str:
    """``host:port/ns/app:tag`` -> ``host:port/ns/app`` (the RepoDigests prefix)."""
    name = name.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


RESOURCES: dict[str, Any] = {r.token: r for r in (TagResource(), RegistryImageResource())}
