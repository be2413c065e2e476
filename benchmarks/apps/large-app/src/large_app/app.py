"""The FastAPI application: items stored with SQLAlchemy, an HTML page, metrics, JWT auth."""

# No 'from __future__ import annotations': FastAPI resolves the nested dependency at runtime.
import platform
import sys
from typing import Annotated

import jwt
import orjson
import structlog
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from jinja2 import Environment
from markupsafe import escape
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import select

from .db import Item, make_engine, make_sessions
from .settings import AppSettings

log = structlog.get_logger()

PAGE = Environment(autoescape=True).from_string(
    "<h1>{{ title }}</h1><ul>{% for i in items %}<li>{{ i.name }} ({{ i.owner }})</li>{% endfor %}</ul>"
)


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    owner: EmailStr


class ItemOut(ItemIn):
    id: int


def create_app(settings: AppSettings | None = None) -> FastAPI:
    settings = settings or AppSettings()
    sessions = make_sessions(make_engine(settings.database_url))
    registry = CollectorRegistry()
    created = Counter("items_created", "Items created", registry=registry)
    app = FastAPI(title=settings.title)

    def caller(authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing bearer token")
        try:
            claims = jwt.decode(authorization[7:], settings.jwt_secret, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise HTTPException(401, f"bad token: {exc}") from None
        return str(claims["sub"])

    @app.get("/")
    def index() -> dict[str, str]:
        return {"message": "hello from large-app", "python": platform.python_version(),
                "prefix": sys.prefix}

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok\n"

    @app.post("/items", status_code=201)
    def add_item(item: ItemIn, who: Annotated[str, Depends(caller)]) -> ItemOut:
        with sessions.begin() as session:
            row = Item(name=item.name, owner=str(item.owner))
            session.add(row)
            session.flush()
            out = ItemOut(id=row.id, name=row.name, owner=row.owner)
        created.inc()
        log.info("item created", id=out.id, by=who)
        return out

    @app.get("/items")
    def list_items() -> list[ItemOut]:
        with sessions() as session:
            rows = session.scalars(select(Item).order_by(Item.id)).all()
            return [ItemOut(id=r.id, name=r.name, owner=r.owner) for r in rows]

    @app.get("/export")
    def export() -> Response:
        with sessions() as session:
            rows = session.scalars(select(Item).order_by(Item.id)).all()
            data = [{"id": r.id, "name": r.name, "owner": r.owner, "created": r.created} for r in rows]
        return Response(orjson.dumps(data), media_type="application/json")

    @app.get("/page", response_class=HTMLResponse)
    def page() -> str:
        with sessions() as session:
            rows = session.scalars(select(Item).order_by(Item.id)).all()
        return PAGE.render(title=escape(settings.title), items=rows)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def token_for(subject: str, secret: str) -> str:
    return jwt.encode({"sub": subject}, secret, algorithm="HS256")
