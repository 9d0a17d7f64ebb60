"""Property-based fuzzing of the API from its own OpenAPI schema: no 5xx, responses conform.

Schema-valid requests may still be refused with 422: the schema cannot say that an optimizer
name must be registered or that a formula must parse. So the "positive data acceptance" check is
left out; everything else schemathesis checks (server errors, status codes, content types,
response schemas, rejection of schema-invalid data) runs."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from optarena.web.app import create_app  # noqa: E402
from optarena.web.origin import Policy  # noqa: E402

# /api/train starts real training (up to minutes per valid request): its validation is tested in
# test_api.py instead of by fuzzing.
# (schemathesis's ASGI client names its host "testserver": allowed like any --allowed-host)
app = create_app(warm=False, policy=Policy(allowed_hosts=("testserver",)))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/train")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails(case):
    response = case.call()
    assert response.status_code < 500, response.text
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
