"""bizosaas-deploy: push the tested images by digest, deploy them to Dokploy, verify health."""

from components import clash_check

clash_check.begin()  # Dokploy's other projects are read while the program's modules load (components/clash_check.py)

from components.program import main  # noqa: E402

main()
