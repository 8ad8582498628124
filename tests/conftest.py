"""What every test needs: a fixed region and dummy AWS credentials, set before boto3 is used."""

import os

# Forced, not defaulted: no test may ever reach a real AWS account with a developer's keys.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.pop("AWS_PROFILE", None)

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "stockpulse")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "stockpulse")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

# Property tests assert behaviour, never time: a shared, loaded machine must not fail them on
# hypothesis' per-example deadline (timing targets live in bench/).
from hypothesis import settings

settings.register_profile("stockpulse", deadline=None)
settings.load_profile("stockpulse")
