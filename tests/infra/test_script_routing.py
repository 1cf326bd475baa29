"""The load balancer sends the Google tag routes (and the gateway path) to a backend service
that adds the geo headers, and collect's hits to one that adds them only when enabled.

Acceptance F1 item 11 of the team's first-party reference (§1.1: Google's sGTM
region-specific settings guide routes ``/gtm.js`` and ``/gtag/*`` to a second backend service
with geo headers, because custom headers are billed per request). Structural checks with
python-hcl2 (terraform plan cannot run here).
"""

from __future__ import annotations

import re

import pytest

from shared.first_party import scripts
from tests.infra.hcl import all_modules

GEO = ("X-Client-Geo-Country:{client_region}", "X-Client-Geo-Region:{client_region_subdivision}")


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def test_script_routes_alias_and_gateway_paths_go_to_the_geo_backend(modules):
    domain = modules["custom_domain"]
    paths = str(domain.locals["script_paths"])
    for route in (
        "/gtm.js",
        "/gtag/*",
        "/ns.html",
        "var.script_alias_paths",
        "var.gateway_path",
        "${var.gateway_path}/*",
    ):
        assert route in paths, route
    url_map = domain.of_type("google_compute_url_map")["https"]
    matcher = url_map["path_matcher"][0]
    assert url_map["host_rule"][0]["path_matcher"] == matcher["name"]
    assert "backend_service.this[0]" in matcher["default_service"]
    rule = matcher["path_rule"][0]
    assert rule["paths"] == "${local.script_paths}" and "backend_service.scripts[0]" in rule["service"]
    # Gateway hits (/<path>/g/collect) are collect's ingestion: the hit backend, longest match.
    hits = str(matcher["dynamic"])
    assert "/g/collect" in hits and "backend_service.this[0]" in hits
    root = modules["root"].calls["custom_domain"]
    assert root["script_alias_paths"] == "${keys(var.tag_aliases)}"
    assert root["gateway_path"] == "${var.script_gateway_path}"


def test_the_script_backend_always_adds_geo_the_hit_backend_only_when_enabled(modules):
    domain = modules["custom_domain"]
    backends = domain.of_type("google_compute_backend_service")
    geo = str(domain.locals["geo_headers"])
    assert all(header in geo for header in GEO)
    assert backends["scripts"]["custom_request_headers"] == "${concat(local.geo_headers, local.edge_auth_header)}"
    assert "var.hit_geo_headers ? local.geo_headers : []" in backends["this"]["custom_request_headers"]
    # Same serverless NEG and the same Cloud Armor policy behind both.
    for name in ("this", "scripts"):
        assert backends[name]["security_policy"] == "${var.security_policy}"
        assert "network_endpoint_group.this[0]" in str(backends[name]["backend"])
    variable = domain.variables["hit_geo_headers"]
    assert variable["type"] in ("bool", "${bool}") and variable["description"]
    root = modules["root"]
    assert root.calls["custom_domain"]["hit_geo_headers"] == "${var.geo_headers_on_hits}"
    assert root.variables["geo_headers_on_hits"]["description"]


def _regex(modules, variable: str) -> list[str]:
    conditions = " ".join(v["condition"] for v in modules["root"].variables[variable]["validation"])
    return [r.replace("\\\\", "\\") for r in re.findall(r'regex\("((?:[^"\\]|\\.)*)"', conditions)]


@pytest.mark.parametrize(
    "path", ["/metrics", "/k7x2q9", "/gtmpath1", "/mygoogle1", "/short", "/a/bcdefg", "/toolongpath1"]
)
def test_gateway_path_validation_agrees_with_the_code(modules, path):
    allowed, forbidden = _regex(modules, "script_gateway_path")
    terraform_ok = bool(re.fullmatch(allowed.strip("^$"), path)) and not re.search(
        forbidden.removeprefix("(?i)"), path, re.IGNORECASE
    )
    try:
        scripts.ScriptConfig(gateway_path=path, gateway_tag_id="G-ABCD1234")
        code_ok = True
    except ValueError:
        code_ok = False
    assert terraform_ok == code_ok, path
