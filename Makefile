# The two commands of README.md: `make demo` (the main job end to end, locally) and `make test`.
.PHONY: setup demo down test check lint preview rollback releases

STACK ?= local
PY := venv/bin/python
# This machine has no Python language host, pulumi-docker or pulumi-command plugin: use the stand-ins in
# testkit/bin (BIZOSAAS_STANDINS=0 uses the real ones).
export BIZOSAAS_STANDINS ?= 1

setup:
	bash scripts/setup.sh

# the demo's routes answer through a long-lived Traefik configured as Dokploy's (127.0.0.1:8880, :8443)
demo: setup
	bash scripts/start-traefik.sh
	$(PY) -m deployctl demo --stack $(STACK)

# tear the demo down: every local stack (destroyed, removed), the stand-in (stopped, its state removed), what they left;
# says what it removed, and that there is nothing to remove the second time
down:
	@if [ -x $(PY) ]; then $(PY) -m deployctl down; else echo "down: nothing to remove (no venv here: make demo never ran)"; fi

# the tests also need the local S3 server (state-backend tests); make demo does not. The wall time test.sh prints at
# the end counts from here (set-up included).
test:
	export BIZOSAAS_TEST_T0=$$(date +%s) && bash scripts/setup.sh --with-s3 && bash scripts/test.sh

# the developers' inner loop, under a minute: lint, types and the unit tests (no Docker Engine: DOCKER_HOST points
# nowhere; no Pulumi engine: -m "not engine"), on 2 workers. It does not replace make test (CI runs that).
UNIT_TESTS := tests/core tests/dokploy_api tests/deployctl tests/components/test_stack_config.py \
	tests/components/test_schema_agreement.py tests/probes/test_health.py tests/probes/test_state_backend.py \
	tests/probes/test_registry.py tests/testkit/test_ports.py tests/testkit/test_image_locks.py
check:
	@[ -x $(PY) ] || bash scripts/setup.sh
	venv/bin/ruff check . && venv/bin/mypy
	DOCKER_HOST=unix:///nonexistent/make-check.sock PATH="$(CURDIR)/testkit/bin:$(CURDIR)/.tools/pulumi/bin:$$PATH" \
		$(PY) -m pytest -q -rs -n 2 -m "not engine" --slowest 5 $(UNIT_TESTS)

lint:
	venv/bin/ruff check . && venv/bin/mypy

preview: setup
	$(PY) -m deployctl preview --stack $(STACK) --diff

rollback: setup
	$(PY) -m deployctl rollback --stack $(STACK) --release $(RELEASE)

releases: setup
	$(PY) -m deployctl releases --stack $(STACK)
