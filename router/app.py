"""The router's aiohttp application and server: API, signaling, metrics, health, shutdown.

:func:`create_app` builds the application around one :class:`~router.mediaplane.MediaPlane`;
:func:`serve` runs it until SIGTERM/SIGINT, then drains (every client is told
``{"type": "disconnected", "reason": "shutdown"}`` and its socket closed) and returns.

Plugging in the media plane: pass one to ``create_app(config, media_plane)`` /
``serve(config, media_plane)``, or provide ``router/media.py`` with
``create_media_plane(config: RouterConfig) -> MediaPlane``; :func:`default_media_plane` uses it
when it exists and falls back to :class:`~router.mediaplane.NullMediaPlane`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from router.api import ApiHandlers, add_api_routes, error_middleware
from router.auth import ApiCredentials
from router.config import RouterConfig
from router.logs import log_event
from router.mediaplane import MediaPlane, NullMediaPlane
from router.sessions import SessionRegistry
from router.signaling import SignalingHub

__all__ = [
    "HUB",
    "MEDIA",
    "REGISTRY",
    "STATIC_DIR",
    "create_app",
    "default_media_plane",
    "render_metrics",
    "serve",
]

log = logging.getLogger("router.app")

#: The browser page (docs/browser.md): ``/`` serves its ``index.html``, ``/static/`` the rest.
STATIC_DIR = Path(__file__).resolve().parent / "static"

HUB = web.AppKey("hub", SignalingHub)
REGISTRY = web.AppKey("registry", SessionRegistry)
MEDIA = web.AppKey("media", MediaPlane)


def default_media_plane(config: RouterConfig) -> MediaPlane:
    """``router.media.create_media_plane(config)`` when that module exists, else a null one."""
    try:
        module = importlib.import_module("router.media")
    except ModuleNotFoundError as exc:
        if exc.name not in ("router.media", "router"):
            raise
        port = config.media_ports.first
        return NullMediaPlane(config.advertised_media_host, port)
    factory: Callable[[RouterConfig], MediaPlane] = module.create_media_plane
    return factory(config)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(registry: SessionRegistry, hub: SignalingHub, media: MediaPlane) -> str:
    """The Prometheus text exposition (format 0.0.4) of the router's state and counters."""
    stats = media.stats()
    sessions = registry.sessions.values()
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, int]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value}" for labels, value in samples)

    metric("rtp_router_sessions", "gauge", "Sessions that exist.", [("", len(registry.sessions))])
    metric("rtp_router_participants", "gauge", "Participants joined to a session.",
           [("", sum(len(s.participants) for s in sessions))])
    metric("rtp_router_streams", "gauge", "Published streams.",
           [("", sum(len(s.publications) for s in sessions))])
    metric("rtp_router_websockets", "gauge", "Open signaling sockets of joined participants.",
           [("", len(hub.connections))])
    metric("rtp_router_archives_active", "gauge", "Archives recording now.",
           [("", sum(1 for s in sessions for a in s.archives.values() if a.active))])
    metric("rtp_router_packets_in_total", "counter", "Packets received by the media plane.",
           [("", stats.packets_in)])
    metric("rtp_router_packets_out_total", "counter", "Packets sent by the media plane.",
           [("", stats.packets_out)])
    metric("rtp_router_bytes_in_total", "counter", "UDP payload bytes received.",
           [("", stats.bytes_in)])
    metric("rtp_router_bytes_out_total", "counter", "UDP payload bytes sent.",
           [("", stats.bytes_out)])
    metric("rtp_router_drops_total", "counter", "Packets dropped, by reason.",
           [(f'{{reason="{_escape(r)}"}}', n) for r, n in sorted(stats.drops.items())])
    metric("rtp_router_srtp_failures_total", "counter",
           "SRTP/SRTCP packets that failed to unprotect.", [("", stats.srtp_failures)])
    if stats.fast_path:
        metric("rtp_router_fastpath_datagrams_total", "counter",
               "Datagrams read by the C forwarding path: forwarded there (fast) or handed to "
               "the Python path (slow).",
               [(f'{{path="{_escape(k)}"}}', n) for k, n in sorted(stats.fast_path.items())])
    return "\n".join(lines) + "\n"


def create_app(
    config: RouterConfig,
    media_plane: MediaPlane | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """Build the application: ``/v1`` API, ``/ws`` signaling, ``/metrics``, ``/healthz``.

    The media plane is started on application startup and closed on cleanup; on shutdown every
    signaling socket is drained first.
    """
    media = media_plane if media_plane is not None else default_media_plane(config)
    registry = SessionRegistry(e2ee_default=config.e2ee_default,
                               e2ee_require=config.e2ee_require)
    hub = SignalingHub(registry, media, ApiCredentials(config.api_key, config.api_secret),
                       clock_skew=config.clock_skew, clock=clock)
    api = ApiHandlers(config, registry, media, hub, clock=clock)
    app = web.Application(
        middlewares=[error_middleware, api.auth_middleware],
        client_max_size=256 * 1024,
    )
    app[HUB] = hub
    app[REGISTRY] = registry
    app[MEDIA] = media
    add_api_routes(app, api)
    app.router.add_get("/ws", hub.handle)

    async def healthz(request: web.Request) -> web.Response:
        if hub.draining:
            return web.json_response({"status": "draining"}, status=503)
        return web.json_response({"status": "ok", "sessions": len(registry.sessions)})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=render_metrics(registry, hub, media),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if STATIC_DIR.is_dir():
        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(STATIC_DIR / "index.html",
                                    headers={"Cache-Control": "no-store"})

        app.router.add_get("/", index)
        app.router.add_static("/static/", STATIC_DIR)

    async def on_startup(app: web.Application) -> None:
        await media.start()

    async def on_shutdown(app: web.Application) -> None:
        await hub.shutdown(config.drain_timeout)

    async def on_cleanup(app: web.Application) -> None:
        for sid in list(registry.sessions):
            try:
                await hub.end_session(sid)
            except Exception:
                log.exception("ending a session at shutdown failed")
        await media.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


async def serve(
    config: RouterConfig,
    media_plane: MediaPlane | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the router until SIGTERM/SIGINT (or ``stop`` is set), then drain and return.

    The first log line after binding is ``listening`` with the real ``port`` (useful with
    ``--port 0``). Raises :class:`OSError` (with a one-line message) when the HTTP port cannot
    be bound, or when the media plane cannot start.
    """
    app = create_app(config, media_plane)
    media = app[MEDIA]
    log_event(log, logging.INFO, "media plane", implementation=type(media).__name__)
    if isinstance(media, NullMediaPlane):
        log_event(log, logging.WARNING,
                  "no media plane installed: sessions and signaling work, no media is forwarded")
    if config.uses_default_credentials:
        log_event(log, logging.WARNING,
                  "using the built-in development API key/secret; set [auth] api_key and "
                  "api_secret (or RTP_ROUTER_API_KEY / RTP_ROUTER_API_SECRET) for real use")
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=config.drain_timeout)
    await runner.setup()
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    try:
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(f"cannot listen on {config.host}:{config.port}: "
                          f"{exc.strerror or exc}") from exc
        port = _bound_port(runner.addresses, config.port)
        log_event(log, logging.INFO, "listening", host=config.host, port=port,
                  url=f"http://{config.host}:{port}")
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        await stop.wait()
        log_event(log, logging.INFO, "draining", websockets=len(app[HUB].connections))
    finally:
        await runner.cleanup()
        for sig in installed:
            loop.remove_signal_handler(sig)
    log_event(log, logging.INFO, "stopped")


def _bound_port(addresses: list[Any], default: int) -> int:
    for addr in addresses:
        if isinstance(addr, tuple) and len(addr) >= 2 and isinstance(addr[1], int):
            return addr[1]
    return default
