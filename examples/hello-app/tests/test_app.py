import pytest

from hello_app import create_app


@pytest.fixture
def app():  # used by pytest-flask's `client` fixture
    return create_app()


def test_index_says_hello(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_json()["message"] == "hello from venvship"


def test_healthz(client) -> None:
    assert client.get("/healthz").data == b"ok\n"
