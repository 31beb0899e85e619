"""Prompt and model text holding markup and script render as text and run nothing: no dialog, no
request anywhere but the app (the `console` fixture checks both for every page), no element made
from it but the Markdown subset, and links only to http(s)."""

from __future__ import annotations

import pytest

from tests.console.conftest import Console, StartConsole, expect, shown_status, start_from_form, submit_form
from tests.support.model_server import Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

SCRIPT_TAG = '<script>alert("script");fetch("http://evil.example/script")</script>'
HOSTILE = (
    f"{SCRIPT_TAG} <img src=x onerror=\"alert('img');fetch('http://evil.example/img')\"> "
    "[click me](javascript:alert(document.domain)) <a href=\"javascript:alert('a')\">a</a> "
    '<iframe src="http://evil.example/frame"></iframe> <style>*{background:url(http://evil.example/css)}</style> '
    "![pixel](http://evil.example/pixel.png) [fine](https://example.com/ok) "
    "<svg onload=alert('svg')></svg> javascript:alert('bare')"
)
SCRIPT = Script(
    rounds_before_satisfied=1, plan=f"- {HOSTILE}", agent_reply=HOSTILE, instruction=HOSTILE,
    final_answer=f"# {HOSTILE}\n\n{HOSTILE}",
)


async def test_markup_and_script_in_prompt_and_model_text_render_as_text_and_run_nothing(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(SCRIPT)
    page = await console.open(app)

    await submit_form(page, HOSTILE, model='<script>alert("model")</script>')  # refused: the detail shows
    await expect(page.get_by_role("alert")).to_contain_text("422: model_name: String should match pattern")
    await start_from_form(page, HOSTILE, review=True)
    await shown_status(page, "awaiting_input")
    await expect(page.locator(".review .plan")).to_contain_text(SCRIPT_TAG)
    await page.get_by_role("button", name="Approve").click()
    await shown_status(page, "completed")
    await expect(page.locator(".connection")).to_have_text("The transcript is complete.")

    task = page.locator("#task")
    for place in (".prompt", ".answer", ".messages .message >> nth=-2"):
        await expect(task.locator(place)).to_contain_text(SCRIPT_TAG)  # as text, as written
    await expect(task.locator("h5")).to_contain_text("<img src=x onerror=")  # the answer's heading
    await expect(page.locator("script, iframe, style, svg, img, [onerror], [onload], [style]")).to_have_count(1)
    assert await page.evaluate("[...document.scripts].map(s => s.getAttribute('src'))") == ["console.js"]
    made = task.locator(".prompt a, .answer a, .message a")  # links the Markdown made: http(s), new context
    links = await made.evaluate_all("links => links.map(a => [a.protocol, a.rel, a.target, a.textContent])")
    assert links and {tuple(link[:3]) for link in links} <= {
        ("https:", "noopener noreferrer", "_blank"), ("http:", "noopener noreferrer", "_blank")}
    assert ["https:", "noopener noreferrer", "_blank", "fine"] in links
    assert await page.locator("a:not([href^='http']):not([href^='#/'])").count() == 0  # javascript: never a link
    assert await page.evaluate("document.title") == "Magentic-One tasks"


async def test_the_watch_sees_a_policy_break_a_dialog_and_a_request_elsewhere(
    start_console: StartConsole, console: Console
) -> None:
    """The checks above are not vacuous: what they look for is seen when it happens."""
    page = await console.open(await start_console())
    watch = console.watch_of(page)

    async with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        await page.evaluate("() => document.body.append(Object.assign(new Image(), {src: 'http://evil.example/i'}))")
    await page.evaluate("() => alert('dialog')")
    async with page.expect_request("http://evil.example/"):
        await page.evaluate("() => { location.href = 'http://evil.example/'; }")

    problems = watch.problems()
    assert problems[1:] == ["dialog alert: dialog", "request to http://evil.example/i", "request to http://evil.example/"]
    assert "Content Security Policy" in problems[0] and "img-src" in problems[0]
    watch.errors.clear(), watch.dialogs.clear(), watch.requests.clear()
