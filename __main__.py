"""bizosaas-deploy: push the tested images by digest, deploy them to Dokploy, verify health."""

import pulumi

from components.program import build

for key, value in build(pulumi.get_stack(), pulumi.Config("bizosaas")).items():
    pulumi.export(key, value)
