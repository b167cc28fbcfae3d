"""The demo page in a real browser (Debian's Chromium, Playwright) against ``kefu run`` with the model ``kefu train``
makes and the real action server: every product the page shows gets an answer that names it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO_ROOT, Stack, free_port, start, stop, wait_healthy

CHROMIUM = "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing (run `make system-deps`: it installs Debian's chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def demo_page(demo_model: Path, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kefu run`` serving the demo page and socket.io channel, its actions on the test stack; yields its URL."""
    work = tmp_path_factory.mktemp("demo-page")
    endpoints = yaml.safe_load((REPO_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"] = {"url": f"{stack.actions_url}/webhook"}
    (work / "endpoints.yml").write_text(yaml.safe_dump(endpoints), encoding="utf-8")
    port = free_port()
    log = work / "kefu-run.log"
    process = start(["-m", "bot.cli", "run", "-m", str(demo_model), "-p", str(port), "-i", "127.0.0.1",
                     "--credentials", str(REPO_ROOT / "credentials.yml"), "--endpoints", str(work / "endpoints.yml")],
                    log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/webhooks/socketio/", process, log, timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_every_product_on_the_demo_page_gets_an_answer_that_names_it(demo_page: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, chromium_sandbox=False,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            errors: list[Any] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(demo_page + "/")
            products = page.locator("li.product")
            titles = products.locator("h3").all_inner_texts()
            assert len(titles) >= 4
            bot = page.locator(".kefu-msg.kefu-bot")
            for index, title in enumerate(titles):
                products.nth(index).get_by_role("button", name="Ask about it").click()
                answer = bot.filter(has_text=f"The {title} (")  # "The Nike Vomero 17 (running shoes) costs $159.99"
                sync_api.expect(answer).to_have_count(1)
                sync_api.expect(answer).to_contain_text(page.locator("li.product .price").nth(index).inner_text())
                page.get_by_role("textbox", name="Message to the kefu").press("Escape")  # close the chat, as a shopper
                sync_api.expect(page.get_by_role("dialog", name="Kefu")).to_be_hidden()  # would, to see the page
            assert not errors, errors
        finally:
            browser.close()
