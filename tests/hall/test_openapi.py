"""The hall's paths are in the OpenAPI document, their raw bodies documented."""

from __future__ import annotations

from tests.hall.conftest import World

HALL_PATHS = {
    ("get", "/api/v1/service-items"),
    ("get", "/api/v1/service-items/{code}"),
    ("get", "/api/v1/service-catalogues/{department}"),
    ("get", "/api/v1/scenarios"),
    ("get", "/api/v1/scenarios/{code}"),
    ("post", "/api/v1/cases"),
    ("get", "/api/v1/cases"),
    ("get", "/api/v1/cases/{number}"),
    ("get", "/api/v1/cases/{number}/uploads/{material}"),
    ("post", "/api/v1/cases/{number}/supplement"),
    ("post", "/api/v1/cases/{number}/approve"),
    ("post", "/api/v1/cases/{number}/visits"),
    ("post", "/api/v1/cases/{number}/{step}"),
    ("post", "/api/v1/cases/{number}/rating"),
    ("get", "/api/v1/cases/{number}/rating"),
    ("post", "/api/v1/cases/{number}/complaints"),
    ("get", "/api/v1/complaints"),
    ("post", "/api/v1/complaints/{complaint_id}/answer"),
    ("get", "/api/v1/rectifications"),
    ("post", "/api/v1/rectifications/{order_id}/resolve"),
    ("post", "/api/v1/progress"),
    ("get", "/api/v1/metrics"),
    ("get", "/api/v1/metrics.csv"),
}


def test_the_hall_is_in_the_openapi_document(world: World) -> None:
    spec = world.api.get("/openapi.json").json()
    offered = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert not HALL_PATHS - offered, sorted(HALL_PATHS - offered)
    schemas = spec["components"]["schemas"]
    assert set(schemas["ApplicationIn"]["properties"]) == {
        "item_code",
        "applicant",
        "form",
        "licences",
    }
    assert "CitedLicenceIn" in schemas and "SupplementIn" in schemas
    body = spec["paths"]["/api/v1/cases"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/ApplicationIn"}
    assert "application" in body["multipart/form-data"]["schema"]["properties"]
    steps = spec["paths"]["/api/v1/cases/{number}/{step}"]["post"]["parameters"]
    step = next(p for p in steps if p["name"] == "step")
    assert step["schema"]["$ref"].endswith("/Step")
    assert set(schemas["Step"]["enum"]) == {
        "accept",
        "reject",
        "request-correction",
        "start-review",
        "request-supplement",
        "refuse",
        "complete",
    }
