"""DashboardApiFunction: read-only JSON for the live-room big screen (HTTP API, JWT authorizer).

Thin: validate the path and query parameters (Powertools request validation), ask the read model
(`stockpulse.dashboard`) for the view, map "not found" to 404 and a bad parameter to 400 naming
the field. Authentication is API Gateway's JWT authorizer (template.yaml): this handler trusts
the requests it gets. The local server (`stockpulse serve`) calls this same handler after
checking its own access token.

CORS is answered by the HTTP API's CorsConfiguration (template parameter DashboardAllowedOrigin);
when DASHBOARD_ALLOWED_ORIGIN is set, the resolver sends the same single origin too (locally the
page and the API share one origin, so no CORS header is sent at all).
"""

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockpulse import dashboard
from stockpulse.dashboard import AlertsView, SessionView, SkuResponse, SkusView
from stockpulse.settings import Settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()

_origin = Settings.from_environment().dashboard_allowed_origin.strip()
app = APIGatewayHttpResolver(
    enable_validation=True,
    cors=CORSConfig(allow_origin=_origin, allow_headers=["Authorization"], max_age=600) if _origin else None,
)

# Path segments arrive percent-encoded (rawPath): validated here, decoded and re-checked below.
ID_MAX_CHARS = 128  # contract: session_id and sku_id are 1-128 characters
SessionId = Annotated[str, Path(min_length=1, max_length=12 * ID_MAX_CHARS, description="the live session")]
SkuId = Annotated[str, Path(min_length=1, max_length=12 * ID_MAX_CHARS, description="the product")]
Limit = Annotated[
    int,
    Query(ge=1, le=dashboard.ALERTS_MAX_LIMIT, description="how many alerts, newest first (1..200)"),
]


def _id(value: str, field: str) -> str:
    decoded = unquote(value)
    if not 1 <= len(decoded) <= ID_MAX_CHARS:
        raise RequestValidationError([{"loc": ("path", field), "type": "string_too_long"}])
    return decoded


def _no_store(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Live numbers: never cached by a browser or a proxy."""
    response = next_middleware(app)
    response.headers["Cache-Control"] = "no-store"
    return response


app.use(middlewares=[_no_store])


@app.get("/sessions/<session_id>")
@tracer.capture_method
def get_session(session_id: SessionId) -> SessionView:
    return dashboard.reader().session_view(_id(session_id, "session_id"))


@app.get("/sessions/<session_id>/skus")
@tracer.capture_method
def get_skus(session_id: SessionId) -> SkusView:
    return dashboard.reader().skus_view(_id(session_id, "session_id"))


@app.get("/sessions/<session_id>/skus/<sku_id>")
@tracer.capture_method
def get_sku(session_id: SessionId, sku_id: SkuId) -> SkuResponse:
    return dashboard.reader().sku_view(_id(session_id, "session_id"), _id(sku_id, "sku_id"))


@app.get("/sessions/<session_id>/alerts")
@tracer.capture_method
def get_alerts(session_id: SessionId, limit: Limit = dashboard.ALERTS_DEFAULT_LIMIT) -> AlertsView:
    return dashboard.reader().alerts_view(_id(session_id, "session_id"), limit)


def _error(status: int, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"statusCode": status, "message": message, **extra},
        headers={"Cache-Control": "no-store"},
    )


@app.exception_handler(RequestValidationError)
def _bad_request(error: RequestValidationError) -> Response[Any]:
    """400 naming the field (never Python or pydantic internals)."""
    details = []
    for e in error.errors():
        loc = [str(p) for p in e.get("loc", ())]
        field = loc[-1] if loc else "request"
        details.append({"field": field, "in": loc[0] if len(loc) > 1 else "request", "type": e.get("type")})
    first = details[0] if details else {"field": "request", "type": "invalid"}
    metrics.add_metric(name="DashboardBadRequest", unit=MetricUnit.Count, value=1)
    return _error(400, f"invalid parameter: {first['field']}", field=first["field"], detail=details)


@app.exception_handler(dashboard.NotFound)
def _not_found(error: dashboard.NotFound) -> Response[Any]:
    return _error(404, str(error))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="DashboardRequests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
