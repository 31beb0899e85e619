"""console/markdown.js and the image check of console/transcript.js, run in the browser on the page
they ship in: Markdown becomes DOM nodes whose text is the input's, never markup; links only to
http(s); only base64 PNG, JPEG, GIF and WebP data counts as an image."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.console.conftest import Console, StartConsole

RENDER = """async (text) => {
  const { markdown } = await import("./markdown.js");
  const box = document.createElement("div");
  box.append(markdown(text));
  return box.innerHTML;
}"""
IMAGE_TYPE = """async (data) => (await import("./transcript.js")).imageType(data)"""

CASES = [
    ("plain text", "<p>plain text</p>"),
    ("two\nlines\n\nnext", "<p>two\nlines</p><p>next</p>"),
    ("# Title\n### Small", "<h3>Title</h3><h5>Small</h5>"),
    ("- a\n- b\n\n1. one\n2. two", "<ul><li>a</li><li>b</li></ul><ol><li>one</li><li>two</li></ol>"),
    ("3) three\n4) four", '<ol start="3"><li>three</li><li>four</li></ol>'),
    ("```python\nprint('<b>')\n```", "<pre><code>print('&lt;b&gt;')</code></pre>"),
    ("`<i>x</i>` and **bold** and *em* and _em_", "<p><code>&lt;i&gt;x&lt;/i&gt;</code> and <strong>bold</strong> "
     "and <em>em</em> and <em>em</em></p>"),
    ("snake_case_name and 2 * 3 * 4", "<p>snake_case_name and 2 * 3 * 4</p>"),
    ("[site](https://example.com/a?b=1)", '<p><a href="https://example.com/a?b=1" rel="noopener noreferrer" '
     'target="_blank">site</a></p>'),
    ("see http://example.com/x.", '<p>see <a href="http://example.com/x" rel="noopener noreferrer" '
     'target="_blank">http://example.com/x</a>.</p>'),
    ('[x](https://e.com/"><script>)', '<p><a href="https://e.com/%22%3E%3Cscript%3E" rel="noopener noreferrer" '
     'target="_blank">x</a></p>'),
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>"),
    ("[a](javascript:alert(1))", "<p>[a](javascript:alert(1))</p>"),
    ("[a](javascript:alert`1`)", "<p>[a](javascript:alert`1`)</p>"),  # a refused link stays text, as written
    ("[a](JaVaScRiPt:void)", "<p>[a](JaVaScRiPt:void)</p>"),
    ("[a](data:text/html,<b>)", "<p>[a](data:text/html,&lt;b&gt;)</p>"),
    ("[a](vbscript:x) [b](/relative) [c](//evil.example/x)", "<p>[a](vbscript:x) [b](/relative) "
     "[c](//evil.example/x)</p>"),
    ("[**bold link**](https://e.com)", '<p><a href="https://e.com/" rel="noopener noreferrer" target="_blank">'
     "<strong>bold link</strong></a></p>"),
]


@pytest.fixture
async def page(start_console: StartConsole, console: Console) -> Any:
    """One page for all the cases of a test: a browser and an app per case would cost seconds each."""
    return await console.open(await start_console())


async def test_markdown_becomes_nodes_never_markup(page: Any) -> None:
    rendered = [(text, await page.evaluate(RENDER, text)) for text, _ in CASES]
    assert rendered == CASES


PNG = bytes.fromhex("89504e470d0a1a0a") + b"\0\0\0\rIHDR"
IMAGES = [
    (base64.b64encode(PNG).decode(), "image/png"),
    (base64.b64encode(b"\xff\xd8\xff\xe0\0\x10JFIF\0").decode(), "image/jpeg"),
    (base64.b64encode(b"GIF89a\1\0\1\0").decode(), "image/gif"),
    (base64.b64encode(b"GIF87a\1\0\1\0").decode(), "image/gif"),
    (base64.b64encode(b"RIFF\x24\0\0\0WEBPVP8 ").decode(), "image/webp"),
    (base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>').decode(), None),
    (base64.b64encode(b"<html><script>alert(1)</script>").decode(), None),
    (base64.b64encode(b"RIFF\x24\0\0\0WAVEfmt ").decode(), None),
    ("data:image/png;base64," + base64.b64encode(PNG).decode(), None),
    (base64.b64encode(PNG).decode() + "\"><img src=x onerror=alert(1)>", None),
    (base64.b64encode(PNG).decode()[:-1], None),  # not a whole base64 text
    ("javascript:alert(1)", None),
    ("", None),
]


async def test_only_base64_of_png_jpeg_gif_or_webp_is_an_image(page: Any) -> None:
    found = [(data[:40], await page.evaluate(IMAGE_TYPE, data)) for data, _ in IMAGES]
    assert found == [(data[:40], kind) for data, kind in IMAGES]
