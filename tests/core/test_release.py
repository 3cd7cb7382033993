"""Release identity, promotion refusals and pinned (rollback) releases."""

from __future__ import annotations

import pytest

from core.catalog import resolve
from core.release import ReleaseError, digests_for, promotable_digests, release_id
from core.release import is_verified as release_verified
from tests.catalog_helpers import fake_digest, raw_catalog, settings

CATALOG = resolve(raw_catalog(), settings(stack="prod", tag="prod", container_suffix="prod"))
MANIFEST = {n: f"{s.image_repository}@{fake_digest(n)}" for n, s in CATALOG.services.items()}


def test_release_id_is_content_addressed() -> None:
    assert release_id(MANIFEST) == release_id(dict(reversed(list(MANIFEST.items()))))
    assert release_id(MANIFEST) != release_id({**MANIFEST, "brain-api": MANIFEST["brain-api"][:-1] + "0"})
    assert release_id(MANIFEST).startswith("r-") and len(release_id(MANIFEST)) == 14


def test_verified_release_is_promoted_digest_for_digest() -> None:
    digests = promotable_digests("prod", "bizosaas-deploy:promoteFrom (org/p/staging)", CATALOG, MANIFEST, True)
    assert digests == {n: fake_digest(n) for n in CATALOG.services}


def test_unverified_release_is_refused() -> None:
    with pytest.raises(ReleaseError, match=r"stack prod: bizosaas-deploy:promoteFrom \(org/p/staging\): release r-\w+ was not verified"):
        promotable_digests("prod", "bizosaas-deploy:promoteFrom (org/p/staging)", CATALOG, MANIFEST, False)


def test_missing_manifest_and_tag_references_are_refused() -> None:
    with pytest.raises(ReleaseError, match="exports no release_manifest"):
        promotable_digests("prod", "bizosaas-deploy:promoteFrom (s)", CATALOG, None, True)
    bad = {**MANIFEST, "brain-api": "ghcr.io/bizoholic-digital/bizosaas-platform/brain-api:staging"}
    with pytest.raises(ReleaseError, match=r"brain-api: .* is not <repository>@sha256:<digest>"):
        digests_for("prod", CATALOG, bad, "bizosaas-deploy:pinnedRelease")


def test_foreign_repository_is_refused() -> None:
    bad = {**MANIFEST, "brain-api": f"docker.io/evil/brain-api@{fake_digest('x')}"}
    with pytest.raises(ReleaseError, match="is not this stack's repository"):
        digests_for("prod", CATALOG, bad, "bizosaas-deploy:pinnedRelease")


def test_digest_missing_from_the_registry_is_refused_when_exists_is_given() -> None:
    asked: list[tuple[str, str]] = []

    def exists(repo: str, digest: str) -> bool:
        asked.append((repo, digest))
        return not repo.endswith("/brain-api")

    with pytest.raises(ReleaseError, match=r"brain-api: .*brain-api@sha256:\w+ is not in the registry"):
        promotable_digests("prod", "bizosaas-deploy:promoteFrom (org/p/staging)", CATALOG, MANIFEST, True, exists)
    assert asked and all(d.startswith("sha256:") for _, d in asked)


def test_nothing_checked_is_not_verified() -> None:
    assert release_verified(True, [True, True]) is True
    assert release_verified(True, []) is False  # all([]) would say True: no compose project, nothing verified
    assert release_verified(False, [True]) is False
    assert release_verified(True, [True, None]) is False


def test_env_keys_are_the_names_compose_interpolates_not_escaped_dollars() -> None:
    from core.release import env_keys

    text = "a: ${DATABASE_URL}\nb: $${LITERAL}\nc: $$${JWT_SECRET}/0\nd: ${REDIS_BASE_URL}/1 ${DATABASE_URL}\n"
    assert env_keys(text) == ["DATABASE_URL", "JWT_SECRET", "REDIS_BASE_URL"]


def test_promotion_refuses_a_release_other_than_the_expected_one() -> None:
    manifest = {n: f"{s.image_repository}@sha256:{'a' * 64}" for n, s in CATALOG.services.items()}
    key = "bizosaas-deploy:promoteFrom (o/p/staging)"
    assert promotable_digests("prod", key, CATALOG, manifest, True, expect=release_id(manifest))
    with pytest.raises(ReleaseError, match=rf"expectRelease: the source stack runs release {release_id(manifest)}, not r-0"):
        promotable_digests("prod", key, CATALOG, manifest, True, expect="r-000000000000")
