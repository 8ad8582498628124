"""Template tests. test_template_security's IAM-sufficiency test reuses the unit suite's small
rehearsal (tests/unit/test_no_secrets_in_logs.py): tests/unit goes on sys.path so that it imports
when this folder runs alone."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "unit"))
