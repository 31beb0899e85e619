"""A webhook consumer on 127.0.0.1 that verifies every delivery with the reference Standard Webhooks
library (an implementation independent of the service's), and can fail the first deliveries."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[tuple[float, str]] = field(default_factory=list)  # (time, webhook-id) of every POST
    rejected: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts.append((time.monotonic(), request.headers.get("webhook-id", "")))
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.rejected += 1
            return web.Response(status=401)
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append(event)
        return web.Response(status=204)


@asynccontextmanager
async def webhook_receiver(secret: str, *, fail_first: int = 0) -> AsyncIterator[Receiver]:
    receiver = Receiver(secret, fail_first)
    app = web.Application()
    app.router.add_post("/hooks/tasks", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hooks/tasks"
    try:
        yield receiver
    finally:
        await runner.cleanup()
