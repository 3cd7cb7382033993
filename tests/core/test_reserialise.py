"""What Dokploy's re-serialisation of our compose text does, measured with the real pieces.

Dokploy v0.30.2 parses every compose file it deploys with npm yaml 2.8.1 and writes it back (``core/reserialise.py``
says where and how); docker compose reads that. Here the real package (node) does the round trip and the real docker
compose reads the result: the shipped catalog rendered in both modes with every stack in the repository arrives with the
meaning it had, and so does every generated hostile value ``core.reserialise.problem`` lets through; every value it
refuses really would change or stop the deploy, and resolve names it where it is set.
"""

from __future__ import annotations

import itertools
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.stack_config import settings_from_file
from core import reserialise
from core.catalog import CatalogError, resolve
from core.compose import render_compose
from testkit.dokploy.domains import converted
from tests.catalog_helpers import SECRET_NAMES, STACK_ENV, fake_digest, raw_catalog, settings
from tests.reserialise_helpers import REFUSED_FILE, arrival, compose_config, dokploy_js, through_dokploy

__all__ = ["dokploy_js"]
pytestmark = pytest.mark.usefixtures("dokploy_js")
ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = [ROOT / "Pulumi.staging.yaml", ROOT / "Pulumi.prod.yaml", *sorted((ROOT / "stacks").glob("*.yaml"))]

NAMED = [
    # YAML 1.1 booleans and their cases, YAML 1.2's; null spellings
    "on", "off", "yes", "no", "y", "n", "Y", "N", "ON", "Off", "True", "FALSE", "true", "~", "null", "Null", "",
    # numbers in YAML 1.1, 1.2 and Go spellings
    "8001:8001", "1:20", "0777", "08", "09", "0o17", "0O17", "0x1F", "0X1F", "+0x1F", "0b101", "0B101", "1_000", "1e3",
    "1E3", "1.5e3", "-.5", "+.5", ".5", "1.", ".inf", "-.Inf", "+.inf", ".nan", "12345678901234567890", "-0", "+1",
    # dates and times
    "2024-01-01", "2024-1-2", "2024-01-01T10:00:00Z", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2024-13-01",
    # indicators at the start, ": ", " #", "-", "<<", document markers
    "*x", "&x", "!x", "%x", "@x", "`x`", "#x", "a: b", "a #b", "- x", "? x", "|", "> x", "<<", "---", "...", "[x]", "{x}", ",",
    # interpolation escapes (compose's, after YAML), quotes, backslashes
    "$$x", "$${X}", "${X}", "pa$$word", "'", '"', "it's \"x\"", "\\", "C:\\dir\\n",
    # Traefik's rule syntax, as a label value a stack could set
    "Host(`api.example.com`) && PathPrefix(`/v1`)",
    # lines: break, CRLF, trailing, only breaks, blanks around, tabs, a tab first, only blanks
    "x\ny", "x\r\ny", "x\n", "x\n\n", "\n", "\n\n", " x\ny", "x\n y", "a  b\n\nc", "a\tb", "\tx", "a\n\tb", "\tx\ny",
    "\n\tx", " \n", "\n \n", " x ", "x ",
    # unicode: letters, emoji, NBSP, BOM, zero width, the line and paragraph separators, NEL, DEL, C1, non-characters
    "é", "日本", "🎉", "a\xa0b", "\ufeffx", "a\u200bb", "a\u2028b", "a\u2029b", "x\u2028", "a\x85b", "a\x7fb", "a\x9fb",
    "a\ufffeb", "a\uffffb", "a\ufffdb", "a\U00010000b",
    # long lines (lineWidth 1000 folds them)
    "word " * 300, "x" * 1500, ("a: b " * 250).strip(),
]  # fmt: skip


def generated(seed: int) -> list[str]:
    rnd = random.Random(seed)
    numeric = [*"0123456789" * 3, *"+-._eExXbBoO:Tt Z", "0x", "0b", "0o", "e+", "e-", "2024-", "12-", "-31", "T10:", "00:00"]
    general = [*"ab '\"`$#\\=!{}[]:,&*?|>%@~\n\t-", "${X}", "$$", ": ", " #", "- ", "é", "日本", "\xa0", "---", "\r\n", "on", "1"]
    out = ["".join(rnd.choice(numeric) for _ in range(rnd.randint(1, 10))) for _ in range(300)]
    out += ["".join(rnd.choice(general) for _ in range(rnd.randint(0, 14))) for _ in range(300)]
    out += ["".join(p) for n in (2, 3) for p in itertools.product(" \t\nx", repeat=n) if "\n" in p]
    out += [f"{rnd.randint(1, 2999):04d}-{rnd.randint(0, 13)}-{rnd.randint(0, 32):02d}{rnd.choice(['', 'T10:00:00Z', ' 1:2:3'])}"
            for _ in range(10)]  # fmt: skip
    return out


VALUES = list(dict.fromkeys(NAMED + generated(25)))
CATALOG = resolve(raw_catalog(), settings())
DIGESTS = {name: fake_digest(name) for name in CATALOG.services}


def test_what_problem_lets_through_arrives_exactly_and_what_it_refuses_does_not() -> None:
    got = arrival(VALUES)
    missed = [(v, g) for v, g in zip(VALUES, got, strict=True) if reserialise.problem(v) is None and g != v]
    over = [v for v, g in zip(VALUES, got, strict=True) if reserialise.problem(v) is not None and g == v]
    assert not missed[:10], f"{len(missed)} values changed through Dokploy's round trip that core.reserialise lets through"
    assert not over[:10], f"{len(over)} values core.reserialise refuses arrive unchanged all the same"
    refused = [v for v in VALUES if reserialise.problem(v)]
    print(f"{len(VALUES)} values: {len(VALUES) - len(refused)} arrive exactly, {len(refused)} refused "
          f"({sum(1 for v, g in zip(VALUES, got, strict=True) if g == REFUSED_FILE)} of them stop the deploy)")  # fmt: skip
    assert {"1_000", "0b101", "0X1F", "+0x1F", "2024-01-01", "a\u2028b", "a\x85b", "\tx\ny", " \n"} <= set(refused)
    assert not {"on", "y", "08", "1e3", "0o17", "-.5", "8001:8001", "$$x", "x\ny", "a\tb", "a\n\tb"} & set(refused)


def test_pyyaml_alone_leaves_numbers_unquoted_that_docker_compose_reads_as_numbers() -> None:
    """Today's spelling before the Dumper: docker compose read these as numbers, even without Dokploy."""
    numbers = ["08", "09", "1e3", "1.5e3", "-.5", "+.5", "0o17"]
    old = arrival(numbers, write=lambda doc: yaml.safe_dump(doc, sort_keys=False, width=4096))
    assert all(got != value for value, got in zip(numbers, old, strict=True)), old
    assert arrival(numbers) == numbers


def stack_settings(path: Path, mode: str) -> Any:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))["config"]
    if mode == "stack":
        config = {**config, "bizosaas-deploy:composeProjects": {"backend": {"mode": "stack"}, "frontend": {"mode": "stack"}}}
    return settings_from_file(path.stem.removeprefix("Pulumi."), config, SECRET_NAMES)


@pytest.mark.parametrize("mode", ["compose", "stack"])
def test_the_shipped_catalog_keeps_its_meaning_through_dokploy_with_every_stack(mode: str) -> None:
    texts: dict[str, str] = {}
    for path in STACK_FILES:
        catalog = resolve(raw_catalog(), stack_settings(path, mode))
        digests = {name: fake_digest(name) for name in catalog.services}
        texts.update({f"{path.name} {group}": render_compose(catalog, group, digests) for group in catalog.group_names})
    with ThreadPoolExecutor(4) as pool:
        before = dict(zip(texts, pool.map(lambda t: compose_config(t, interpolate=True), texts.values()), strict=True))
        after = dict(zip(texts, pool.map(lambda t: compose_config(through_dokploy(t), interpolate=True), texts.values()), strict=True))
    assert len(texts) == 2 * len(STACK_FILES) and all(before.values())
    assert [name for name in texts if after[name] != before[name]] == [], f"changed through Dokploy ({mode} mode)"


def test_hostile_values_in_every_place_a_stack_reaches_arrive_or_are_refused_naming_the_key() -> None:
    """Stack values, a service's env override, the container suffix, the publish address, deploy constraints and the
    stack name: each either resolves and reaches docker compose exactly through Dokploy, or is refused at resolve."""
    hostile = ["on", "08", "1e3", "1_000", "2024-01-01", "a\u2028b", "Host(`x`)", "*x", "$$x", "é 🎉", "0o17", "-.5"]
    for value in hostile:
        env = {**STACK_ENV, "LOG_LEVEL": value}
        overrides = {"auth-service": {"env": {"PORT": value}, "published": 18006},
                     "brain-api": {"deploy": {"placement": {"constraints": [f"node.labels.x=={value}"]}}}}  # fmt: skip
        s = settings(env=env, services=overrides, projects={"backend": {"mode": "stack"}})
        why = reserialise.problem(value) or reserialise.problem(f"node.labels.x=={value}")
        if why:
            with pytest.raises(CatalogError) as err:
                resolve(raw_catalog(), s)
            text = str(err.value)
            assert "stack staging: bizosaas-deploy:env/LOG_LEVEL: (read by services brain-api (env LOG_LEVEL)" in text
            assert "stack staging: bizosaas-deploy:services/auth-service/env/PORT: " in text
            continue
        catalog = resolve(raw_catalog(), s)
        digests = {name: fake_digest(name) for name in catalog.services}
        after = compose_config(through_dokploy(render_compose(catalog, "backend", digests)), interpolate=True)
        assert after is not None
        brain, auth = after["services"]["brain-api"], after["services"]["auth-service"]

        def read(text: str) -> str:  # `compose config` prints a literal $ as $$
            return text.replace("$$", "$")

        assert read(brain["environment"]["LOG_LEVEL"]) == value and read(auth["environment"]["PORT"]) == value
        assert brain["deploy"]["placement"]["constraints"] == [f"node.labels.x=={value}"]


def test_refused_stack_names_container_names_and_numbers_are_named_where_they_are_set() -> None:
    raw = raw_catalog()
    raw["services"]["brain-api"]["container_name"] = "2024-01"
    raw["services"]["brain-api"]["deploy"] = {"replicas": 2**53 + 1}
    with pytest.raises(CatalogError) as err:
        resolve(raw, settings(stack="2024-01-01", container_suffix="01", publish_address="a\u2028b"))
    text = str(err.value)
    assert "stack 2024-01-01: the stack name (label com.bizosaas.stack): '2024-01-01' stops the deploy" in text
    assert "stack 2024-01-01: services/brain-api/container_name: (with bizosaas-deploy:containerSuffix '01') '2024-01-01' stops" in text
    assert "stack 2024-01-01: services/brain-api/deploy/replicas: 9007199254740993 is not kept by Dokploy's YAML reader" in text
    assert "stack 2024-01-01: bizosaas-deploy:publishAddress: holds U+2028" in text
    assert "services/wagtail-cms/container_name" not in text  # bizosaas-wagtail-01 is text


def test_routes_hosts_and_paths_reach_traefik_labels_exactly_through_dokploy() -> None:
    """Dokploy writes a route's host and path into the labels it adds (createDomainLabels) and writes the file back."""
    compose = {"appName": "app-x", "composeType": "docker-compose",
               "composeFile": render_compose(CATALOG, "backend", DIGESTS)}  # fmt: skip
    hosts = ["1e3.example.test", "08.example.test", "2024-01-01.example.test", "on.example.test"]
    paths = ["/1_000", "/08", "/2024-01-01", "/~x", "/%2F"]
    domains = [{"uniqueConfigKey": i, "host": h, "path": p, "port": 8001, "https": i % 2 == 0, "serviceName": "brain-api",
                "enabled": True, "certificateType": "letsencrypt", "stripPath": True, "internalPath": "/", "middlewares": []}
               for i, (h, p) in enumerate(zip(hosts, paths, strict=False))]  # fmt: skip
    after = compose_config(converted(compose, domains))
    assert after is not None
    labels = after["services"]["brain-api"]["labels"]
    for d in domains:
        assert labels[f"traefik.http.routers.app-x-{d['uniqueConfigKey']}-web.rule"] == f"Host(`{d['host']}`) && PathPrefix(`{d['path']}`)"
        assert labels[f"traefik.http.services.app-x-{d['uniqueConfigKey']}-web.loadbalancer.server.port"] == "8001"
    assert labels["com.bizosaas.stack"] == "staging" and labels["traefik.enable"] == "true"



def test_a_setting_every_service_shares_is_written_out_not_as_an_anchor() -> None:
    """The catalog's deploy defaults are one list for every service; an anchor and aliases in our text would come back
    from Dokploy as yaml 2.8.1's own (&a1, *a1) and read as a copy in the stand-in: written out, both are the same."""
    raw = raw_catalog()
    raw["defaults"]["deploy"]["placement"] = {"constraints": ["node.role==manager"]}
    catalog = resolve(raw, settings(projects={"backend": {"mode": "stack"}}))
    text = render_compose(catalog, "backend", {name: fake_digest(name) for name in catalog.services})
    assert text.count("- node.role==manager") == len(catalog.group("backend")) and "&id" not in text
    assert "&a1" not in through_dokploy(text) and compose_config(through_dokploy(text)) == compose_config(text)
