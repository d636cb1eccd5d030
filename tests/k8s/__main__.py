"""``python -m tests.k8s``: same as ``python -m tests.k8s.apiserver``."""

import sys

from .apiserver import main

sys.exit(main())
