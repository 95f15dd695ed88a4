"""The OpenAPI schema: valid, and every endpoint in it answers as it says (status codes, bodies, media types)."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from rest_framework.test import APIClient

from accounts import roles
from tests.support.batches import batch_csv, varied_rows
from tests.support.factories import application_form_data, review_case, scored_application

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)  # the OpenAPI 3.1 meta-schema
    return generated


def _response_validator(schema: dict, media: dict) -> Draft202012Validator:
    registry = Registry().with_resource(
        "urn:api", Resource.from_contents({**schema, "$schema": "https://json-schema.org/draft/2020-12/schema"})
    )
    text = yaml.safe_dump(media["schema"]).replace("#/components/", "urn:api#/components/")
    return Draft202012Validator(yaml.safe_load(text), registry=registry)


def test_the_served_schema_is_the_generated_one(api_for, schema):
    response = api_for(roles.OFFICER).get("/api/schema/")
    assert response.status_code == 200
    served = yaml.safe_load(io.BytesIO(response.content))
    assert served["openapi"] == "3.1.0" and set(served["paths"]) == set(schema["paths"])
    assert APIClient().get("/api/schema/").status_code == 401


def test_every_api_url_is_in_the_schema(schema):
    documented = {re.sub(r"\{\w+\}", "<int:pk>", path) for path in schema["paths"]}
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "api/":
            for sub in pattern.url_patterns:
                route = "/api/" + str(sub.pattern)
                if route.startswith("/api/v1/"):
                    routes.add(route)
    assert routes == documented


def test_every_endpoint_answers_as_documented(api_for, schema, django_capture_on_commit_callbacks):
    officer, reviewer = api_for(roles.OFFICER), api_for(roles.REVIEWER)
    application = scored_application(officer=officer.user)
    with django_capture_on_commit_callbacks(execute=True):
        upload = officer.post("/api/v1/batches/", {"file": io.BytesIO(batch_csv(varied_rows(3)))}, format="multipart")
    assert upload.status_code == 202, upload.content
    batch_id = upload.json()["id"]
    case = review_case(officer=officer.user)
    requests = {
        ("/api/v1/applications/", "get"): (officer, None, None),
        ("/api/v1/applications/", "post"): (officer, application_form_data(), "json"),
        ("/api/v1/applications/{id}/", "get"): (officer, None, None),
        ("/api/v1/applications/{id}/claim/", "post"): (reviewer, {"version": 0}, "json"),
        ("/api/v1/applications/{id}/release/", "post"): (reviewer, {"version": 0}, "json"),
        ("/api/v1/applications/{id}/decide/", "post"): (
            reviewer,
            {
                "version": 0,
                "decision": "DECLINE",
                "reason_code": "DEC-AFFORD",
                "explanation": "Debt payments exceed half of the income.",
            },
            "json",
        ),
        ("/api/v1/applications/{id}/second-approval/", "post"): (
            reviewer,
            {
                "version": 0,
                "confirm": True,
                "reason_code": "CNF-EVIDENCE",
                "explanation": "Checked the payslips and the bank statements.",
            },
            "json",
        ),
        ("/api/v1/batches/", "post"): (officer, {"file": io.BytesIO(batch_csv(varied_rows(2)))}, "multipart"),
        ("/api/v1/batches/{id}/", "get"): (officer, None, None),
        ("/api/v1/batches/{id}/cancel/", "post"): (officer, None, None),
        ("/api/v1/batches/{id}/results.csv", "get"): (officer, None, None),
    }
    checked = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            client, body, fmt = requests[(path, method)]
            ident = (
                batch_id
                if "batches" in path
                else case.pk
                if method == "post" and path != "/api/v1/applications/"
                else application.pk
            )
            url = path.replace("{id}", str(ident))
            with django_capture_on_commit_callbacks(execute=True):
                response = (
                    getattr(client, method)(url, body, format=fmt) if body is not None else getattr(client, method)(url)
                )
            documented = operation["responses"]
            assert str(response.status_code) in documented, (path, method, response.status_code, response.content[:300])
            media_type = response["Content-Type"].split(";")[0]
            content = documented[str(response.status_code)].get("content", {})
            assert media_type in content or (media_type == "text/csv" and "text/csv" in content), (
                path,
                method,
                media_type,
            )
            if media_type in ("application/json", "application/problem+json"):
                _response_validator(schema, content[media_type]).validate(response.json())
            # Without a token every endpoint answers a documented 401 problem.
            anonymous = getattr(APIClient(), method)(url)
            assert anonymous.status_code == 401 and "401" in documented
            assert anonymous["Content-Type"] == "application/problem+json"
            _response_validator(schema, documented["401"]["content"]["application/problem+json"]).validate(
                anonymous.json()
            )
            checked.add((path, method))
    assert checked == set(requests)


def test_the_docs_page_is_served_from_our_static_files_under_the_strict_csp(officer_client):
    response = officer_client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<style" not in page and "<script>" not in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts and all(src.startswith("/") for src in scripts)  # this origin, no CDN
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    init = officer_client.get(scripts[-1])
    assert init.status_code == 200 and "SwaggerUIBundle" in init.content.decode()
    for src in scripts[:-1]:
        assert officer_client.get(src).status_code == 200
