"""deployctl: run the Pulumi program through the real engine with the project's own toolchain."""
