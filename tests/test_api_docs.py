"""Over real HTTP: /docs and /redoc work offline (every asset from this server, no other host named),
and an unknown query parameter on any documented route is a 422 naming it, never silently ignored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from api.config import ApiSettings
from api.main import create_app
from tests.conftest import lfw_image
from tests.live_server import make_keys, serve

pytestmark = pytest.mark.slow

ABSOLUTE_URL = re.compile(r"""https?://[^\s"'<>()]+""")
REFERENCE = re.compile(r"""(?:\bsrc|\bhref|\bspec-url)\s*=\s*["']([^"']+)["']|\burl:\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def api(tmp_path_factory, pipeline) -> Iterator[dict]:
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('api_docs') / 'face_api.db'}",
        api_keys_enabled=True,
        model_source="packaged",
    )
    app = create_app(settings, pipeline=pipeline)
    with serve(app) as base, httpx.Client(base_url=base, timeout=120) as client:
        keys = make_keys(app)
        yield {"client": client, "base": base, "read": {"X-API-Key": keys["read"]}}


def references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/"])
def test_page_names_no_other_host_and_its_assets_answer(api, path):
    client, base = api["client"], api["base"]
    response = client.get(path)  # no key: the docs and the page are public, the data behind them is not
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    own_host = urlsplit(base).netloc
    external = [url for url in ABSOLUTE_URL.findall(html) if urlsplit(url).netloc != own_host]
    external = [url for url in external if url != "http://www.w3.org/2000/svg"]  # an XML namespace, not a fetch
    assert external == [], f"{path} names other hosts: {external}"
    assets = references(html)
    assert assets, f"{path} references no assets at all"
    for asset in assets:
        url = urljoin(f"{base}{path}", asset)
        assert urlsplit(url).netloc == own_host, url
        answer = client.get(url)
        assert answer.status_code == 200, f"{path} -> {asset}: {answer.status_code}"
        assert answer.content, f"{asset} is empty"


def test_docs_assets_are_the_real_bundles(api):
    client = api["client"]
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text
    assert "Redoc" in client.get("/docs-assets/redoc.standalone.js").text
    assert client.get("/openapi.json").json()["info"]["title"] == "Face Analytics Home API"
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_unknown_query_parameter_is_422_naming_it(api):
    client, read = api["client"], api["read"]
    photo = {"file": ("a.jpg", lfw_image("Colin_Powell", 1).read_bytes(), "image/jpeg")}
    response = client.post("/analyze?annotate=true", files=photo, headers=read)
    assert response.status_code == 422
    body = response.json()
    assert "annotate" in body["error"] and "format" in body["error"] and "top_k" in body["error"]
    assert body["unknown_parameters"] == ["annotate"]

    several = client.get("/search?nam=bob&sort=asc", headers=read)
    assert several.status_code == 422 and "nam, sort" in several.json()["error"]
    assert client.get("/stats?verbose=1", headers=read).status_code == 422
    assert "none" in client.get("/health?x=1").json()["error"]  # a route without parameters says so

    assert client.get("/search?name=bob&page=1&page_size=5", headers=read).status_code == 200
    ok = client.post("/analyze?top_k=1&format=json", files=photo, headers=read)
    assert ok.status_code == 200 and len(ok.json()["faces"]) == 1


def test_bad_format_value_is_422(api):
    photo = {"file": ("a.jpg", lfw_image("Colin_Powell", 1).read_bytes(), "image/jpeg")}
    response = api["client"].post("/analyze?format=png", files=photo, headers=api["read"])
    assert response.status_code == 422 and "format" in response.json()["error"]
