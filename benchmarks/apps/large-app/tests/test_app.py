from fastapi.testclient import TestClient
from large_app import create_app
from large_app.app import token_for
from large_app.settings import AppSettings


def client() -> TestClient:
    return TestClient(create_app(AppSettings(jwt_secret="s3cret")))  # noqa: S106 - a test key


def test_index_and_health() -> None:
    c = client()
    assert c.get("/").json()["message"] == "hello from large-app"
    assert c.get("/healthz").text == "ok\n"


def test_items_need_a_token_and_round_trip() -> None:
    c = client()
    assert c.post("/items", json={"name": "a", "owner": "a@example.com"}).status_code == 401
    auth = {"Authorization": f"Bearer {token_for('tester', 's3cret')}"}
    made = c.post("/items", json={"name": "<b>", "owner": "a@example.com"}, headers=auth)
    assert made.status_code == 201
    assert c.get("/items").json() == [made.json()]
    assert "&lt;b&gt;" in c.get("/page").text
    assert "items_created_total 1.0" in c.get("/metrics").text
    assert c.get("/export").json()[0]["owner"] == "a@example.com"


def test_rejects_bad_email() -> None:
    auth = {"Authorization": f"Bearer {token_for('tester', 's3cret')}"}
    assert client().post("/items", json={"name": "a", "owner": "nope"}, headers=auth).status_code == 422
