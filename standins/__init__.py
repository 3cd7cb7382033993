"""STAND-IN plugins for Pulumi providers that cannot be built or downloaded on this machine.

Nothing here is a real Pulumi provider: each package implements only what this project uses,
speaks the real Pulumi ResourceProvider gRPC protocol, and says so in its logs.
"""
