"""`python -m tools.plan --stack dev`: the offline plan (tools/plan/render.py does the work)."""

import sys

from tools.plan.render import main

sys.exit(main())
