#!/usr/bin/env python3
"""Proves the browser machinery (browser.py) end to end, without the application's pages.

Usage: selftest.py

Serves a few static pages from Python's http.server on a free port and, in real headless
chromium,
  - opens an accessible page with JavaScript at 360 px: the viewport is 360 px wide, the
    page's script ran, axe-core finds nothing serious, a full-page screenshot is written,
    and the forms are filled and sent by their label and button text (a click waits for
    the page a form leads to, but not when the browser or the page's script keeps it);
  - opens a page with an `<img>` without alt: the accessibility check fails naming
    `image-alt` (critical);
  - does the same with JavaScript off at 1280 px: the page's script did not run (the
    `<noscript>` text shows), the form still works, axe-core still runs and finds the
    same, and the page's scripts stay off afterwards.

Prints the time each part took; exit status 0 when everything held, 1 otherwise.
"""
import html
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from selenium.webdriver.common.by import By

from browser import check_accessibility, click_button, fill, open_browser, screenshot

HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ font: 16px/1.5 sans-serif; margin: 1rem; color: #111; background: #fff; }}
.tall {{ height: 1600px; }}</style></head>
<body><main>"""
FOOT = "</main></body></html>"
PAGES = {
    "/good": HEAD.format(title="Book a visit")
    + """<h1>Book a visit</h1>
<p id="mode">JavaScript is off.</p>
<script>document.getElementById("mode").textContent = "JavaScript is on.";</script>
<noscript><p>This page works without JavaScript.</p></noscript>
<form action="/thanks" method="get">
  <label for="name">Your name</label> <input id="name" name="customer" autocomplete="name">
  <label><input type="checkbox" name="reminder" value="yes"> Remind me by e-mail</label>
  <button type="submit">Send request</button>
</form>
<form action="/thanks" method="get">
  <label for="postcode">Postcode</label> <input id="postcode" name="postcode" required>
  <button type="submit">Check postcode</button>
</form>
<form action="/thanks" method="get" id="draft">
  <button type="submit">Save draft</button> <span id="draft-status"></span>
</form>
<script>
document.getElementById("draft").addEventListener("submit", event => {
  event.preventDefault();
  document.getElementById("draft-status").textContent = "Draft saved";
});
</script>
<div class="tall"><p>The page is taller than the window.</p></div>"""
    + FOOT,
    "/bad": HEAD.format(title="Broken")
    + '<h1>Broken</h1><img src="/pixel.png" width="10" height="10">'
    + FOOT,
}
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cff01f0005fe02fea7d6a5e40000000049454e44ae426082"
)


class Pages(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/thanks":
            query = parse_qs(url.query)
            name = html.escape(query.get("customer", [""])[0])
            reminder = "yes" if query.get("reminder") else "no"
            body = HEAD.format(title="Thanks") + f"<h1>Thanks, {name}</h1>"
            body += f"<p>Reminder: {reminder}</p>" + FOOT
            self.send(200, "text/html; charset=utf-8", body.encode())
        elif url.path == "/pixel.png":
            self.send(200, "image/png", PIXEL)
        elif url.path in PAGES:
            self.send(200, "text/html; charset=utf-8", PAGES[url.path].encode())
        else:
            self.send(404, "text/plain", b"not found")

    def send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def png_size(path):
    """(width, height) from a PNG's IHDR."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def expect_image_alt(driver, page):
    try:
        check_accessibility(driver, page)
    except AssertionError as failure:
        message = str(failure)
        assert "image-alt [critical]" in message and "img" in message, message
        return
    raise AssertionError(f"{page}: the accessibility check passed a page with an img without alt")


def exercise(base, width, javascript, timings):
    mode = "on" if javascript else "off"
    started = time.monotonic()
    with open_browser(width=width, height=800, javascript=javascript) as driver:
        timings.append((f"start chromium (JS {mode})", time.monotonic() - started))

        started = time.monotonic()
        driver.get(base + "/good")
        viewport = driver.execute_script("return window.innerWidth")
        assert viewport == width, f"viewport {viewport} px wide, asked for {width}"
        expected = f"JavaScript is {mode}."
        shown = driver.find_element(By.ID, "mode").text
        assert shown == expected, f"JS {mode}: the page says {shown!r}"
        main = driver.find_element(By.TAG_NAME, "main").text
        noscript = "This page works without JavaScript." in main
        assert noscript != javascript, f"JS {mode}: <noscript> shown: {noscript}"
        timings.append((f"load the page (JS {mode})", time.monotonic() - started))

        started = time.monotonic()
        violations = check_accessibility(driver, f"accessible page, JS {mode}")
        assert not [v for v in violations if v["impact"] in ("serious", "critical")], violations
        driver.get(base + "/bad")
        expect_image_alt(driver, f"page with an img without alt, JS {mode}")
        timings.append((f"axe on both pages (JS {mode})", time.monotonic() - started))

        started = time.monotonic()
        driver.get(base + "/good")
        path = screenshot(driver, f"selftest-{width}px-js-{mode}")
        shot_width, shot_height = png_size(path)
        # The whole page: as wide as the window (less a desktop scrollbar), all of its height.
        assert width - 20 <= shot_width <= width, (path, shot_width, width)
        assert shot_height > 1600, (path, shot_height)
        timings.append((f"full-page screenshot (JS {mode})", time.monotonic() - started))

        started = time.monotonic()
        fill(driver, "Your name", "Ada <Lovelace>")
        fill(driver, "Remind me by e-mail", True)
        click_button(driver, "Send request")
        heading = driver.find_element(By.TAG_NAME, "h1").text
        assert heading == "Thanks, Ada <Lovelace>", heading
        assert "Reminder: yes" in driver.find_element(By.TAG_NAME, "main").text
        driver.back()
        fill(driver, "customer", "Grace")  # by the name attribute
        click_button(driver, "Send request")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Thanks, Grace"
        driver.back()
        click_button(driver, "Check postcode")  # required and empty: the form is not sent
        assert driver.current_url == base + "/good", driver.current_url
        click_button(driver, "Save draft")
        if javascript:  # the page's script takes the submission over
            assert driver.find_element(By.ID, "draft-status").text == "Draft saved"
        else:
            assert driver.find_element(By.TAG_NAME, "h1").text == "Thanks,"
        try:
            click_button(driver, "No such button")
        except AssertionError as failure:
            assert "no button named 'No such button'" in str(failure), failure
        else:
            raise AssertionError("click_button found a button that is not there")
        timings.append((f"fill and send the form (JS {mode})", time.monotonic() - started))

        if not javascript:
            driver.get(base + "/good")
            shown = driver.find_element(By.ID, "mode").text
            assert shown == "JavaScript is off.", f"scripts came back after the check: {shown!r}"
        return path


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    timings = []
    total = time.monotonic()
    try:
        shots = [exercise(base, 360, True, timings), exercise(base, 1280, False, timings)]
    finally:
        server.shutdown()
    for what, seconds in timings:
        print(f"{seconds:6.2f} s  {what}")
    print(f"{time.monotonic() - total:6.2f} s  total; screenshots: {', '.join(map(str, shots))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
