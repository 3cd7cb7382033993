"""The conformance suite: what this project relies on Dokploy to do, checked against the stand-in and any real Dokploy."""
