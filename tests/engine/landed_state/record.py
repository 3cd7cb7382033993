"""Records the state fixture that tests/engine/test_state_compat.py loads (run once, at 47d314e).

The landed code (commit 47d314e, before the module split) deployed a pinned release (no image
resources: the dynamic providers are what is pickled by module path) to a Dokploy stand-in and
exported its checkpoint. This script is kept to say how `state.json` and `dokploy.json` were made;
it only runs against that commit's layout (`components.dokploy_provider`, `bizosaas:` keys).

    git checkout 47d314e && BIZOSAAS_DOCKER_STANDIN=1 venv/bin/python tests/engine/landed_state/record.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

PASSPHRASE = "landed-state-fixture"  # encrypts only the fake values below: a test fixture, not a secret
KEY = "fixture-dokploy-key-0000000000000000"


def main() -> None:
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    tmp = Path(tempfile.mkdtemp())
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    from deployctl import engine
    from testkit.dokploy import FakeDokploy  # the landed layout

    srv = FakeDokploy(api_keys={KEY}, docker=False, latency=0, state_file=tmp / "dokploy.json", deploy_start_delay=0.05,
                      deploy_duration=0.05)
    srv.start()
    raw = __import__("yaml").safe_load((ROOT / "catalog.yaml").read_text())
    repo = "127.0.0.1:5000/bizoholic-digital/bizosaas-platform"
    pinned = {n: f"{repo}/{n}@sha256:" + hashlib.sha256(n.encode()).hexdigest() for n in raw["services"]}
    stack_name = "landed"
    cfg = {
        "bizosaas:registry": repo,
        "bizosaas:tag": "landed",
        "bizosaas:containerSuffix": "landed",
        "bizosaas:dokployUrl": srv.base_url,
        "bizosaas:dokployProject": "bizosaas-landed",
        "bizosaas:dokployEnvironment": "production",
        "bizosaas:deployTimeout": 30,
        "bizosaas:pollInterval": 0.1,
        "bizosaas:registryPullUser": "puller",
        "bizosaas:registryPullHost": "127.0.0.1:5000",
        "bizosaas:env": {
            "ENVIRONMENT": "landed",
            "LOG_LEVEL": "INFO",
            "ALLOWED_HOSTS": "*",
            "ALLOWED_ORIGINS": "http://x",
            "SALEOR_API_URL": "http://s:8000",
            "SUPERSET_URL": "http://s:8088",
            "TEMPORAL_UI_URL": "http://t:8080",
        },
    }
    stack_file = ROOT / f"Pulumi.{stack_name}.yaml"
    stack_file.write_text(json.dumps({"config": cfg}))
    try:
        st = engine.stack(stack_name)
        import pulumi.automation as auto

        st.set_config("bizosaas:dokployApiKey", auto.ConfigValue(KEY, secret=True))
        st.set_config("bizosaas:registryPullToken", auto.ConfigValue("fixture-pull-token-000000", secret=True))
        for name in (
            "DATABASE_URL",
            "REDIS_BASE_URL",
            "OPENAI_API_KEY",
            "SECRET_KEY",
            "JWT_SECRET",
            "AMAZON_ACCESS_KEY",
            "AMAZON_SECRET_KEY",
        ):
            st.set_config(f"bizosaas:secrets.{name}", auto.ConfigValue(f"fixture-{name.lower()}-value", secret=True), path=True)
        text = stack_file.read_text()
        import yaml

        doc = yaml.safe_load(text)
        doc["config"]["bizosaas:pinnedRelease"] = pinned
        stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        result = st.up(color="never", on_output=print)
        print(result.summary.resource_changes)
        state = st.export_stack()
        (HERE / "state.json").write_text(json.dumps(state.deployment, indent=1, sort_keys=True) + "\n")
        (HERE / "stack.yaml").write_text(stack_file.read_text())
        srv.wait_idle(10)
        srv.stop()
        shutil.copy(tmp / "dokploy.json", HERE / "dokploy.json")
        print("base url was", srv.base_url)
    finally:
        stack_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
