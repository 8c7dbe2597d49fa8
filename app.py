"""The public HTTP API of the Boston PB platform: a switchboard.

It builds the Chalice app, attaches the request middleware and registers the
blueprints; every route lives in ``chalicelib/api``.
"""

import uuid

from chalice import Chalice

from chalicelib.api.public import public
from chalicelib.api.staff import staff
from chalicelib.observability import bind_request

app = Chalice(app_name="pb-api")
# The printable access-code sheet (POST /staff/.../access-code-batches).
app.api.binary_types.append("application/pdf")
app.register_blueprint(public)
app.register_blueprint(staff)


@app.middleware("http")
def correlate(event, get_response):
    request_id = (event.context or {}).get("requestId") or uuid.uuid4().hex
    bind_request(request_id)
    response = get_response(event)
    response.headers["X-Request-Id"] = request_id
    return response
