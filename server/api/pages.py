"""The browser pages and their static files (plain ES modules, no build step)."""

from __future__ import annotations

from aiohttp import web

from ..keys import STATIC_DIR


async def student_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def proctor_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "proctor.html")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", student_page)
    app.router.add_get("/proctor", proctor_page)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
