"""Kefu's chat widget end to end: headless Chromium (Playwright) against a real ``kefu run`` subprocess.

The bot is a tiny rules-only model trained in the test (no NLU: the shopper types payloads such as
``/track_order``, and presses buttons). Debian's ``chromium`` is used (``make system-deps``).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright import sync_api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing (run `make system-deps`: it installs Debian's chromium)", allow_module_level=True)
expect = sync_api.expect


def _svg(colour: str) -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 130"><rect width="200" height="130" fill="{colour}"/>'
           '<circle cx="100" cy="65" r="34" fill="white" fill-opacity=".55"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


PRODUCTS = [
    {"title": "Trail runner GTX", "price": 89.9, "currency": "EUR", "image_url": _svg("#f26b21"),
     "pitch": "Grippy and waterproof: made for muddy weekends.",
     "buttons": [{"title": "Tell me more", "payload": '/product_question{"product": "Trail runner GTX"}'}]},
    {"title": "Daypack 22 L", "price": 49.5, "currency": "EUR", "image_url": _svg("#2e7d4f"),
     "pitch": "Fits under a plane seat and still holds a laptop.",
     "buttons": [{"title": "Tell me more", "payload": '/product_question{"product": "Daypack 22 L"}'}]},
]
INTENTS = {
    "greet": "utter_greet", "track_order": "utter_ask_continue", "affirm": "utter_order_found", "deny": "utter_ok",
    "recommend_product": "utter_recommend", "product_question": "utter_product",
    "ask_product_again": "utter_product_again",
}
DOMAIN = {
    "version": "3.1",
    "intents": list(INTENTS),
    "entities": ["product"],
    "slots": {"product": {"type": "text", "influence_conversation": False,
                          "mappings": [{"type": "from_entity", "entity": "product"}]}},
    "responses": {
        "utter_greet": [{"text": "Hello! How can I help?"},
                        {"channel": "socketio", "text": "Hi! I'm Kefu, your web shop assistant."}],
        "utter_ask_continue": [{"text": "Shall I look up your order?", "buttons": [
            {"title": "Yes please", "payload": "/affirm"}, {"title": "No thanks", "payload": "/deny"}]}],
        "utter_order_found": [{"text": "Order A12345 is on its way and arrives tomorrow."}],
        "utter_ok": [{"text": "Okay, nothing more then."}],
        "utter_recommend": [{"text": "You might like these:", "custom": {"products": PRODUCTS}}],
        "utter_product": [{"text": "The {product} is a customer favourite."}],
        "utter_product_again": [{"text": "You asked about the {product} earlier."}],
    },
}
CONFIG = "recipe: default.v1\nlanguage: en\npipeline: []\npolicies:\n  - name: MemoizationPolicy\n  - name: RulePolicy\n"
RULES = {"version": "3.1", "rules": [{"rule": f"answer {intent}", "steps": [{"intent": intent}, {"action": action}]}
                                     for intent, action in INTENTS.items()]}
CREDENTIALS = "rest:\nsocketio:\n  user_message_evt: user_uttered\n  bot_message_evt: bot_uttered\n  session_persistence: true\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KefuServer:
    """``kefu run`` in a subprocess on 127.0.0.1 (stop and start again on the same port)."""

    def __init__(self, project: Path, port: int) -> None:
        self.project = project
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = project / "kefu-run.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> KefuServer:
        kefu = Path(sys.executable).with_name("kefu")
        command = [str(kefu)] if kefu.exists() else [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "run", "-m", "models", "-p", str(self.port), "-i", "127.0.0.1", "--credentials", "credentials.yml"],
                cwd=self.project, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/webhooks/socketio/", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"kefu run did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def kefu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KefuServer]:
    from bot.model_archive import train_model
    from bot.project import load_project

    root = tmp_path_factory.mktemp("widget-shop")
    (root / "data").mkdir()
    (root / "domain.yml").write_text(yaml.safe_dump(DOMAIN, sort_keys=False))
    (root / "config.yml").write_text(CONFIG)
    (root / "data" / "rules.yml").write_text(yaml.safe_dump(RULES, sort_keys=False))
    (root / "credentials.yml").write_text(CREDENTIALS)
    project = load_project(root=root)
    project.raise_for_errors()
    train_model(project, root / "models", parts=("core",))
    server = KefuServer(root, _free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, chromium_sandbox=False,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's tmp folder, or $KEFU_SCREENSHOT_DIR to keep them."""
    target = Path(os.environ.get("KEFU_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_chat_in_the_browser_survives_reloads_and_restarts(kefu: KefuServer, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(kefu.url + "/")
    expect(page).to_have_title("Kefu Demo Shop")
    assert page.locator("script").count() == 1  # one tag: the widget brings its CSS and socket client itself

    launcher = page.get_by_role("button", name="Open chat with the kefu")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    panel = page.get_by_role("dialog", name="Kefu")
    expect(panel).to_be_visible()
    message_box = page.get_by_role("textbox", name="Message to the kefu")
    expect(message_box).to_be_focused()
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(page.locator(".kefu-status")).to_have_text("Online")
    bot = page.locator(".kefu-msg.kefu-bot")
    expect(bot.first).to_contain_text("Hi! I'm Kefu, your web shop assistant.")  # greeting: the socketio variation

    # type, get the reply (with buttons), press a button
    page.evaluate("""() => {  // the typing indicator may be up only for milliseconds: record that it showed
        const typing = document.querySelector('.kefu-typing');
        window.typingSeen = false;
        new MutationObserver(() => { if (!typing.hidden) window.typingSeen = true; })
            .observe(typing, {attributes: true, attributeFilter: ['hidden']});
    }""")
    message_box.fill("/track_order")
    message_box.press("Enter")
    expect(page.locator(".kefu-msg.kefu-user").last).to_contain_text("/track_order")
    expect(bot.last).to_contain_text("Shall I look up your order?")
    assert page.evaluate("window.typingSeen") is True
    expect(page.locator(".kefu-typing")).to_be_hidden()  # and it went away with the reply
    replies = page.get_by_role("group", name="Suggested replies")
    expect(replies.get_by_role("button")).to_have_text(["Yes please", "No thanks"])
    replies.get_by_role("button", name="Yes please").click()
    expect(page.locator(".kefu-msg.kefu-user").last).to_contain_text("Yes please")
    expect(bot.last).to_contain_text("Order A12345 is on its way")
    expect(page.get_by_role("group", name="Suggested replies")).to_have_count(0)  # answered: the choices go away
    expect(message_box).to_be_focused()  # focus is not lost with the pressed button

    # product cards from the recommender's custom payload, and a card's button
    message_box.fill("/recommend_product")
    message_box.press("Enter")
    cards = page.locator(".kefu-card")
    expect(cards).to_have_count(2)
    expect(cards.first.locator(".kefu-card-title")).to_have_text("Trail runner GTX")
    expect(cards.first.locator(".kefu-card-price")).to_contain_text("89.90")
    expect(cards.nth(1).locator(".kefu-card-pitch")).to_have_text("Fits under a plane seat and still holds a laptop.")
    expect(cards.first.get_by_role("img")).to_have_attribute("alt", "Trail runner GTX")
    cards.nth(1).get_by_role("button", name="Tell me more").click()
    expect(bot.last).to_have_text("Kefu: The Daypack 22 L is a customer favourite.")

    shot = _shots(tmp_path) / "widget-desktop.png"
    page.screenshot(path=str(shot), animations="disabled")
    assert shot.stat().st_size > 20_000
    shown = log.inner_text()
    for text in ("Hi! I'm Kefu", "Shall I look up your order?", "Order A12345 is on its way", "Daypack 22 L"):
        assert text in shown
    assert errors == []

    # reload: the chat is still open, the conversation is still there, and the server still knows it
    before = page.locator(".kefu-msg").all_inner_texts()
    page.reload()
    expect(page.locator(".kefu-status")).to_have_text("Online")
    expect(page.locator(".kefu-msg")).to_have_count(len(before))
    assert page.locator(".kefu-msg").all_inner_texts() == before
    expect(page.locator(".kefu-card")).to_have_count(2)
    message_box.fill('/ask_product_again')
    message_box.press("Enter")
    expect(bot.last).to_contain_text("You asked about the Daypack 22 L earlier.")  # the slot from before the reload

    # the server goes away and comes back: the widget reconnects by itself
    kefu.stop()
    expect(page.locator(".kefu-status")).to_have_text("Reconnecting…")
    message_box.fill("/deny")
    message_box.press("Enter")  # typed while offline: sent once the chat is back
    kefu.start()
    expect(page.locator(".kefu-status")).to_have_text("Online", timeout=30_000)
    expect(bot.last).to_contain_text("Okay, nothing more then.")

    # keyboard: Escape closes the chat and gives focus back to the launcher
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    context.close()


def test_the_chat_fills_a_phone_screen(kefu: KefuServer, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(kefu.url + "/")
    page.get_by_role("button", name="Open chat with the kefu").tap()
    panel = page.get_by_role("dialog", name="Kefu")
    expect(panel).to_be_visible()
    expect(page.locator(".kefu-msg.kefu-bot").first).to_contain_text("Hi! I'm Kefu")
    page.get_by_role("textbox", name="Message to the kefu").fill("/track_order")
    page.get_by_role("button", name="Send message").tap()
    page.get_by_role("button", name="No thanks").tap()
    expect(page.locator(".kefu-msg.kefu-bot").last).to_contain_text("Okay, nothing more then.")
    box = panel.bounding_box()
    assert box is not None and box["width"] == 390 and box["height"] == 844  # full screen on a phone
    font_size = page.get_by_role("textbox", name="Message to the kefu").evaluate("e => getComputedStyle(e).fontSize")
    assert font_size == "16px"  # no zoom-on-focus
    shot = _shots(tmp_path) / "widget-phone.png"
    page.screenshot(path=str(shot), animations="disabled")
    assert shot.stat().st_size > 10_000
    page.get_by_role("button", name="Close chat").tap()
    expect(panel).to_be_hidden()
    context.close()

