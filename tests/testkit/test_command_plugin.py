"""The STAND-IN pulumi-resource-command plugin (pulumi-command 1.2.1, ``command:local:Command``).

Three levels: the diff logic and the command runner directly; the plugin process over gRPC, called
as the engine calls it (launcher, port on the first stdout line, secret wrappers, unknowns); and
programs using ``pulumi_command.local.Command`` through the real Pulumi engine (Automation API,
inline program, file backend under tmp_path), where every command appends to a log file so the
tests see exactly what ran, in which order, with which environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi import automation as auto
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from pulumi_command import local

from deployctl import engine
from testkit.command_plugin import diffing, runner
from tests.engine_helpers import tiny_project

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "testkit" / "bin" / "pulumi-resource-command"
COMMAND = "command:local:Command"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
Kind = provider_pb2.PropertyDiff.Kind
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


# --- the diff logic and the runner, directly -------------------------------------------------


def test_diff_is_per_leaf_path_and_only_whole_triggers_replace_from_the_provider() -> None:
    old = {"create": "echo a", "triggers": ["x", 1], "environment": {"A": "1"}}
    assert not diffing.diff(old, old, dict(old)).changed

    changed = diffing.diff(old, old, {"create": "echo b", "triggers": ["y", 1, True], "environment": {"A": "1", "B.C": "2"}})
    assert changed.detailed == {
        "create": Kind.UPDATE,
        "triggers[0]": Kind.UPDATE,
        "triggers[2]": Kind.ADD,
        'environment["B.C"]': Kind.ADD,
    }
    assert changed.diffs == ["create", "environment", "triggers"]
    assert changed.replaces == [], "element changes are made replacements by the engine (the SDK's replaceOnChanges triggers[*])"

    added = diffing.diff({"create": "x"}, {}, {"create": "x", "triggers": ["t"]})
    assert added.detailed == {"triggers": Kind.ADD_REPLACE} and added.replaces == ["triggers"]
    removed = diffing.diff(old, old, {"create": "echo a", "environment": {"A": "1"}})
    assert removed.detailed == {"triggers": Kind.DELETE_REPLACE} and removed.replaces == ["triggers"]


def test_diff_unknowns_secrets_ignore_changes_and_internal_keys() -> None:
    old = {"create": "echo a", "stdin": secret("s1"), "environment": {"A": "1"}}
    assert diffing.diff(old, old, {**old, "create": UNKNOWN}).detailed == {"create": Kind.UPDATE}
    assert diffing.diff(old, old, {**old, "update": UNKNOWN}).detailed == {"update": Kind.ADD}
    assert not diffing.diff(old, old, {**old, "stdin": secret("s1")}).changed
    assert diffing.diff(old, old, {**old, "stdin": secret("s2")}).detailed == {"stdin": Kind.UPDATE}
    assert diffing.diff(old, old, {**old, "stdin": "s1"}).detailed == {"stdin": Kind.UPDATE}, "secretness is part of the value"
    ignored = diffing.diff(old, {**old, "stdout": "o"}, {**old, "create": "echo b"}, ignore_changes=["create"])
    assert not ignored.changed
    assert not diffing.diff(old, old, {**old, "__internal": 1, "version": "1.2.1"}).changed


def test_check_keeps_values_drops_nulls_and_reports_what_does_not_fit() -> None:
    inputs, failures = diffing.check({"create": secret("echo s"), "dir": None, "triggers": [UNKNOWN], "environment": {"A": "1"}})
    assert inputs == {"create": secret("echo s"), "triggers": [UNKNOWN], "environment": {"A": "1"}}
    assert failures == []
    _, failures = diffing.check(
        {"create": 3, "interpreter": "sh", "environment": {"A": 1}, "assetPaths": ["*"], "addPreviousOutputInEnv": "yes", "bogus": 1}
    )
    assert dict(failures).keys() == {"create", "interpreter", "environment", "assetPaths", "addPreviousOutputInEnv", "bogus"}
    assert "not implemented by the command stand-in" in dict(failures)["assetPaths"]


def test_runner_error_has_exit_code_quoted_command_and_last_lines_of_interleaved_output() -> None:
    script = 'for i in $(seq 1 100); do echo "out $i"; done; echo "to stderr" >&2; exit 3'
    with pytest.raises(runner.CommandFailed) as err:
        runner.Runner().run(runner.Invocation(command=script))
    message = str(err.value)
    assert err.value.exit_code == 3
    assert message.startswith(f"exit status 3: running {runner.go_quote(script)}:\n")
    assert "out 100\n" in message and "to stderr" in message
    assert "out 60\n" not in message, f"only the last {runner.ERROR_LINES} lines are kept"
    assert "earlier output omitted" in message


def test_runner_outputs_trim_one_newline_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.Runner().run(runner.Invocation(command="printf 'a\\n\\n'; printf 'e\\n' >&2")) == ("a\n", "e")
    monkeypatch.setattr(runner, "OUTPUT_LIMIT", 64)
    stdout, _ = runner.Runner().run(runner.Invocation(command="seq 1 1000"))
    assert len(stdout) <= 64 and stdout.endswith("999\n1000")


def test_runner_start_failures_and_timeout(tmp_path: Path) -> None:
    run = runner.Runner().run
    with pytest.raises(runner.CommandFailed, match=r'^chdir /nonexistent-dir: no such file or directory: running "true"'):
        run(runner.Invocation(command="true", dir="/nonexistent-dir"))
    with pytest.raises(runner.CommandFailed, match=r'^exec: "no-such-shell": executable file not found in \$PATH'):
        run(runner.Invocation(command="true", interpreter=["no-such-shell", "-c"]))
    started = time.monotonic()
    with pytest.raises(runner.CommandFailed, match=r"^signal: killed: running \"echo before; sleep 30\":\nbefore\n"):
        run(runner.Invocation(command="echo before; sleep 30", timeout=1))
    assert time.monotonic() - started < 15


# --- the plugin process over gRPC ------------------------------------------------------------


class Plugin:
    """The stand-in plugin process, started through its launcher, and a client stub."""

    def __init__(self, launcher: Path = LAUNCHER, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [str(launcher), "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._stderr: list[str] = []
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr or []), daemon=True).start()
        first_line = self.proc.stdout.readline().strip()
        assert first_line.isdigit(), f"plugin did not print its port first: {first_line!r} {self.stderr}"
        self.channel = grpc.insecure_channel(f"127.0.0.1:{first_line}")
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(provider_pb2.ConfigureRequest(args=to_struct({"version": "1.2.1"}), acceptSecrets=True))

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def urn(self, type_: str = COMMAND) -> str:
        return f"urn:pulumi:test::standin::{type_}::cmd"

    def check(self, news: dict[str, Any]) -> dict[str, Any]:
        res = self.stub.Check(provider_pb2.CheckRequest(urn=self.urn(), type=COMMAND, name="cmd", news=to_struct(news)))
        assert not res.failures, res.failures
        return to_dict(res.inputs)

    def create(self, props: dict[str, Any], preview: bool = False, timeout: float = 0) -> tuple[str, dict[str, Any]]:
        res = self.stub.Create(
            provider_pb2.CreateRequest(
                urn=self.urn(), type=COMMAND, name="cmd", properties=to_struct(props), preview=preview, timeout=timeout
            )
        )
        return res.id, to_dict(res.properties)

    def diff(self, state: dict[str, Any], old_inputs: dict[str, Any], news: dict[str, Any]) -> provider_pb2.DiffResponse:
        return self.stub.Diff(
            provider_pb2.DiffRequest(
                id="cmd1", urn=self.urn(), type=COMMAND, olds=to_struct(state), old_inputs=to_struct(old_inputs), news=to_struct(news)
            )
        )

    def update(self, state: dict[str, Any], news: dict[str, Any], preview: bool = False) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id="cmd1", urn=self.urn(), type=COMMAND, olds=to_struct(state), news=to_struct(news), preview=preview
        )
        res = self.stub.Update(request)
        return to_dict(res.properties)

    def delete(self, state: dict[str, Any]) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(id="cmd1", urn=self.urn(), type=COMMAND, properties=to_struct(state)))


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Plugin]:
    p = Plugin(cwd=tmp_path)
    yield p
    p.close()


def test_plugin_info_banner_schema_and_unimplemented_parts(plugin: Plugin) -> None:
    assert plugin.stub.GetPluginInfo(empty_pb2.Empty()).version == "1.2.1"
    schema = json.loads(plugin.stub.GetSchema(provider_pb2.GetSchemaRequest()).schema)
    props = schema["resources"][COMMAND]["inputProperties"]
    assert [k for k, v in props.items() if v.get("replaceOnChanges")] == ["triggers"]
    with pytest.raises(grpc.RpcError) as err:
        plugin.stub.Check(provider_pb2.CheckRequest(urn=plugin.urn("command:remote:Command"), type="command:remote:Command"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED and "only command:local:Command" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        plugin.stub.Invoke(provider_pb2.InvokeRequest(tok="command:local:run"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    deadline = time.time() + 5
    while "STAND-IN for pulumi-command 1.2.1" not in plugin.stderr and time.time() < deadline:
        time.sleep(0.05)
    assert "STAND-IN for pulumi-command 1.2.1" in plugin.stderr


def test_lifecycle_over_grpc_like_the_engine_drives_it(plugin: Plugin, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    news = plugin.check(
        {
            "create": f'echo "create $TOKEN" >> {log}; echo created',
            "update": f'echo "update [$PULUMI_COMMAND_STDOUT] $TOKEN" >> {log}; echo updated',
            "delete": f'echo "delete [$PULUMI_COMMAND_STDOUT] [$PULUMI_COMMAND_STDERR]" >> {log}',
            "environment": {"TOKEN": secret("t1")},
            "triggers": ["a"],
        }
    )
    rid, planned = plugin.create(news, preview=True)
    assert (planned["stdout"], planned["stderr"]) == (UNKNOWN, UNKNOWN) and not log.exists(), "a preview runs nothing"

    rid, state = plugin.create(news)
    assert rid.startswith("cmd") and len(rid) == len("cmd") + 8, "id: the resource name plus 8 hex digits"
    assert (state["stdout"], state["stderr"]) == ("created", "")
    assert state["environment"] == {"TOKEN": secret("t1")}, "a secret input stays secret in the outputs"
    assert log.read_text() == "create t1\n"

    assert plugin.diff(state, news, news).changes == DIFF_NONE
    changed = {**news, "environment": {"TOKEN": secret("t2")}}
    response = plugin.diff(state, news, changed)
    assert response.changes == DIFF_SOME and list(response.diffs) == ["environment"] and not response.replaces
    assert dict(response.detailedDiff)["environment.TOKEN"].kind == Kind.UPDATE
    retriggered = plugin.diff(state, news, {**news, "triggers": ["b"]})
    assert list(retriggered.replaces) == [] and "triggers[0]" in retriggered.detailedDiff

    planned = plugin.update(state, changed, preview=True)
    assert planned["stdout"] == UNKNOWN and log.read_text() == "create t1\n"
    state = plugin.update(state, changed)
    assert state["stdout"] == "updated"
    assert log.read_text() == "create t1\nupdate [created] t2\n"

    read = plugin.stub.Read(provider_pb2.ReadRequest(id=rid, urn=plugin.urn(), type=COMMAND, properties=to_struct(state)))
    assert (read.id, to_dict(read.properties)) == (rid, state)

    plugin.delete({**state, "stderr": "warned"})
    assert log.read_text().splitlines()[-1] == "delete [updated] [warned]"


def test_update_without_update_runs_create_and_add_previous_output_can_be_off(plugin: Plugin, tmp_path: Path) -> None:
    news = plugin.check({"create": 'echo "prev=${PULUMI_COMMAND_STDOUT-none}"', "addPreviousOutputInEnv": False})
    _, state = plugin.create(news)
    assert state["stdout"] == "prev=none"
    assert plugin.update(state, {**news, "stdin": "x"})["stdout"] == "prev=none"
    news = {k: v for k, v in news.items() if k != "addPreviousOutputInEnv"}
    assert plugin.update(state, news)["stdout"] == "prev=prev=none"
    assert plugin.update(state, {"delete": "true"})["stdout"] == state["stdout"], "no command: the outputs stay"


def test_failures_over_grpc_carry_the_real_providers_message(plugin: Plugin) -> None:
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(plugin.check({"create": "echo partial; echo oops >&2; exit 4"}))
    assert err.value.code() == grpc.StatusCode.UNKNOWN
    head, _, output = err.value.details().partition("\n")
    assert head == 'exit status 4: running "echo partial; echo oops >&2; exit 4":'
    assert sorted(output.splitlines()) == ["oops", "partial"], "stdout and stderr, interleaved as they arrived"
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(plugin.check({"create": "sleep 30"}), timeout=1)
    assert err.value.details().startswith('signal: killed: running "sleep 30"')
    failures = plugin.stub.Check(
        provider_pb2.CheckRequest(urn=plugin.urn(), type=COMMAND, news=to_struct({"create": "x", "archivePaths": ["*"]}))
    ).failures
    assert [f.property for f in failures] == ["archivePaths"]


def test_commands_inherit_the_plugins_environment_unchanged(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = Plugin(env={**env, "FROM_ENGINE": "inherited"}, cwd=tmp_path)
    try:
        _, state = p.create(p.check({"create": 'echo "$FROM_ENGINE ${PYTHONPATH-unset} $(pwd)"'}))
        assert state["stdout"] == f"inherited unset {tmp_path}", "no PYTHONPATH from the launcher; cwd = the plugin's"
    finally:
        p.close()


@pytest.mark.parametrize("how", ["symlink", "copy"])
def test_launcher_found_through_a_symlink_or_copied_with_bizosaas_repo(tmp_path: Path, how: str) -> None:
    launcher = tmp_path / "pulumi-resource-command"
    if how == "symlink":
        launcher.symlink_to(LAUNCHER)
        env = dict(os.environ)
    else:
        shutil.copy(LAUNCHER, launcher)
        env = {**os.environ, "BIZOSAAS_REPO": str(ROOT)}
    Plugin(launcher, env=env, cwd=tmp_path).close()


# --- through the real Pulumi engine -----------------------------------------------------------


class EngineRun:
    """One stack on a private file backend; every command logs to ``log``."""

    def __init__(self, tmp_path: Path) -> None:
        self.work = tiny_project(tmp_path, "cmdtest")
        self.log = tmp_path / "runs.log"
        self.name = f"cmd-{uuid.uuid4().hex[:8]}"
        self.program: Callable[[], None] = lambda: None

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def stack(self, program: Callable[[], None] | None = None) -> auto.Stack:
        self.program = program or self.program
        return engine.stack(self.name, program=self.program, work_dir=self.work)

    def up(self, program: Callable[[], None] | None = None) -> auto.UpResult:
        return self.stack(program).up(color="never")

    def preview(self, program: Callable[[], None] | None = None) -> auto.PreviewResult:
        return self.stack(program).preview(color="never")


def _engine_ok() -> bool:
    return (engine.TOOLS_BIN / "pulumi").exists()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineRun]:
    if not _engine_ok():
        pytest.skip("needs the Pulumi engine in .tools/pulumi/bin")
    monkeypatch.setenv("BIZOSAAS_DOCKER_STANDIN", "1")  # puts testkit/bin first on PATH, no plugin downloads
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "backend").as_uri())
    r = EngineRun(tmp_path)
    yield r
    with contextlib.suppress(auto.CommandError):
        r.stack().destroy(color="never")


def exports(**outputs: pulumi.Output[Any]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)


@pytest.mark.engine
def test_engine_preview_runs_nothing_create_runs_once_and_an_unchanged_up_runs_nothing(run: EngineRun) -> None:
    def program() -> None:
        cmd = local.Command(
            "hello", create=f"echo create >> {run.log}; echo hello-out; echo hello-err >&2", delete=f"echo delete >> {run.log}"
        )
        exports(stdout=cmd.stdout, stderr=cmd.stderr, id=cmd.id)

    preview = run.preview(program)
    assert preview.change_summary.get("create") == 2, preview.change_summary
    assert run.lines() == [], "a preview runs no command"

    up = run.up()
    assert (up.outputs["stdout"].value, up.outputs["stderr"].value) == ("hello-out", "hello-err")
    assert up.outputs["id"].value.startswith("hello")
    assert run.lines() == ["create"]

    again = run.up()
    assert set(again.summary.resource_changes or {}) == {"same"}, again.summary.resource_changes
    assert again.outputs["stdout"].value == "hello-out"
    assert run.lines() == ["create"], "nothing changed: nothing runs"

    run.stack().destroy(color="never")
    assert run.lines() == ["create", "delete"]


@pytest.mark.engine
def test_engine_changed_triggers_replace_and_delete_sees_the_old_stdout(run: EngineRun) -> None:
    def program_for(gen: int, delete_before_replace: bool = False) -> Callable[[], None]:
        def program() -> None:
            cmd = local.Command(
                "deploy",
                create=f'echo "create {gen}" >> {run.log}; echo "out-{gen}"',
                delete=f'echo "delete [$PULUMI_COMMAND_STDOUT]" >> {run.log}',
                triggers=[f"gen-{gen}"],
                opts=pulumi.ResourceOptions(delete_before_replace=delete_before_replace),
            )
            exports(stdout=cmd.stdout)

        return program

    run.up(program_for(1))
    preview = run.preview(program_for(2))
    assert preview.change_summary.get("replace") == 1, preview.change_summary
    assert run.lines() == ["create 1"], "a preview of a replacement runs nothing"

    up = run.up()
    assert up.summary.resource_changes.get("replace") == 1 and up.outputs["stdout"].value == "out-2"
    assert run.lines() == ["create 1", "create 2", "delete [out-1]"], "replacement: create the new one, then delete the old"

    run.up(program_for(3, delete_before_replace=True))
    assert run.lines()[3:] == ["delete [out-2]", "create 3"], "deleteBeforeReplace: delete first"


@pytest.mark.engine
def test_engine_changed_inputs_update_in_place(run: EngineRun) -> None:
    def program_for(version: str, create_only: str) -> Callable[[], None]:
        def program() -> None:
            with_update = local.Command(
                "with-update",
                create=f"echo create >> {run.log}; echo v0",
                update=f'echo "update [$PULUMI_COMMAND_STDOUT] $VERSION" >> {run.log}; echo "v-$VERSION"',
                delete=f"echo delete >> {run.log}",
                environment={"VERSION": version},
            )
            plain = local.Command(
                "create-only", create=f'echo "create-only {create_only}" >> {run.log}; echo {create_only}', delete=f"echo gone >> {run.log}"
            )
            exports(with_update=with_update.stdout, create_only=plain.stdout)

        return program

    run.up(program_for("1", "a"))
    assert sorted(run.lines()) == ["create", "create-only a"]

    up = run.up(program_for("2", "b"))
    assert up.summary.resource_changes == {"update": 2, "same": 1}, up.summary.resource_changes
    assert (up.outputs["with_update"].value, up.outputs["create_only"].value) == ("v-2", "b")
    assert sorted(run.lines()[2:]) == ["create-only b", "update [v0] 2"], "update runs `update`, else `create`; no delete"


@pytest.mark.engine
def test_engine_failing_command_fails_the_up_and_the_next_up_retries(run: EngineRun, tmp_path: Path) -> None:
    flag = tmp_path / "ready"

    def program_for(attempt: str) -> Callable[[], None]:
        def program() -> None:
            cmd = local.Command(
                "flaky",
                create=f"echo attempt >> {run.log}; echo progress-out; echo progress-err >&2; test -f {flag} || exit 7; echo done",
                environment={"ATTEMPT": attempt},
            )
            exports(stdout=cmd.stdout)

        return program

    with pytest.raises(auto.CommandError) as err:
        run.up(program_for("1"))
    message = str(err.value)
    assert "exit status 7: running" in message and "progress-out" in message and "progress-err" in message
    assert run.stack().outputs() == {}, "a failed create leaves nothing in the state"

    flag.touch()
    up = run.up()
    assert up.summary.resource_changes.get("create") == 1 and up.outputs["stdout"].value == "progress-out\ndone"
    assert run.lines() == ["attempt", "attempt"]

    flag.unlink()
    with pytest.raises(auto.CommandError, match="exit status 7"):
        run.up(program_for("2"))
    assert run.stack().outputs()["stdout"].value == "progress-out\ndone", "a failed update keeps the old state"
    flag.touch()
    assert run.up().summary.resource_changes.get("update") == 1, "the update is tried again"
    assert run.lines() == ["attempt"] * 4


@pytest.mark.engine
def test_engine_environment_dir_stdin_and_interpreter(run: EngineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "a dir"
    sub.mkdir()
    monkeypatch.setenv("FROM_ENGINE_ENV", "inherited")

    def program() -> None:
        env = local.Command("env", create='echo "$GREETING|$FROM_ENGINE_ENV|$(pwd)"', environment={"GREETING": "hello"}, dir=str(sub))
        here = local.Command("here", create="pwd")
        upper = local.Command(
            "upper", interpreter=[sys.executable, "-c"], create="import sys; print(sys.stdin.read().upper())", stdin="shout"
        )
        exports(env=env.stdout, here=here.stdout, upper=upper.stdout)

    up = run.up(program)
    assert up.outputs["env"].value == f"hello|inherited|{sub}"
    assert up.outputs["here"].value == str(run.work), "no dir: the project directory (where the engine starts plugins)"
    assert up.outputs["upper"].value == "SHOUT"
