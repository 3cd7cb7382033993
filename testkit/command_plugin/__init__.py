"""STAND-IN for the pulumi-command 1.2.1 resource provider plugin (``pulumi-resource-command``).

Implements only ``command:local:Command`` (create/update/delete commands, ``environment``,
``triggers``, ``dir``, ``stdin``, ``interpreter``, ``addPreviousOutputInEnv``; outputs ``stdout``
and ``stderr``) with the real provider's semantics. ``command:remote:*`` resources and the
``command:local:run`` function answer UNIMPLEMENTED.
"""

PACKAGE = "command"
VERSION = "1.2.1"
COMMAND = "command:local:Command"
BANNER = (
    "pulumi-resource-command: STAND-IN for pulumi-command 1.2.1 (bizosaas-deploy testkit/command_plugin); "
    "implements only command:local:Command"
)


def log(message: str) -> None:
    """STAND-IN log line on stderr (the engine keeps plugin stderr in its logs)."""
    import sys

    print(f"[command stand-in] {message}", file=sys.stderr, flush=True)
