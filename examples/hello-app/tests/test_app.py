from hello_app import create_app


def test_index_says_hello() -> None:
    client = create_app().test_client()
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_json()["message"] == "hello from venvship"


def test_healthz() -> None:
    assert create_app().test_client().get("/healthz").data == b"ok\n"
