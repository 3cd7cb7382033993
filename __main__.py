"""bizosaas-deploy: push the tested images by digest, deploy them to Dokploy, verify health."""

from components.program import main

main()
