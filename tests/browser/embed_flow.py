"""A company pastes the widget snippet into its website; a customer books through it. Run by
the API test `web::the_widget_snippet_books_from_the_company_website_only`:

    embed_flow.py --base http://127.0.0.1:PORT --tenant SLUG --service-name NAME \
        --postal-code 12203 --allowed-port P --refused-port Q --shots PREFIX

Serves the same website page on two ports: P is one of the company's website origins, Q is
not. From P the booking page loads in the iframe, grows with its content (postMessage) and
books; the button variant opens it in a dialog. From Q the browser refuses to show it
(frame-ancestors). Prints one JSON line with what happened.
"""

import argparse
import http.server
import json
import sys
import threading
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser import check_accessibility, click_button, fill, open_browser, screenshot

SITE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Fensterbau Müller – Termine</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Fensterbau Müller</h1><p>Buchen Sie Ihren Termin:</p>
<script src="{base}/embed.js" data-tenant="{tenant}" data-lang="de" {extra} async></script>
</main></body></html>"""


def serve(port, pages):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_for(condition, what, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--service-name", required=True)
    parser.add_argument("--postal-code", required=True)
    parser.add_argument("--allowed-port", type=int, required=True)
    parser.add_argument("--refused-port", type=int, required=True)
    parser.add_argument("--shots", default="embed")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    pages = {
        "/": SITE.format(base=base, tenant=args.tenant, extra=""),
        "/button.html": SITE.format(
            base=base, tenant=args.tenant, extra='data-mode="button" data-label="Jetzt Termin buchen"'
        ),
    }
    servers = [serve(args.allowed_port, pages), serve(args.refused_port, pages)]
    result = {}
    try:
        with open_browser(width=1280, height=900) as driver:
            # The company's website with the inline widget.
            driver.get(f"http://127.0.0.1:{args.allowed_port}/")
            iframe = wait_for(lambda: driver.find_elements(By.TAG_NAME, "iframe"), "the iframe")[0]
            # The iframe grows to its page's height (reported by the page through postMessage).
            height = wait_for(lambda: driver.execute_script("return arguments[0].style.height", iframe),
                              "the iframe's height from its page")
            result["inline_height"] = height
            driver.switch_to.frame(iframe)
            assert driver.find_element(By.TAG_NAME, "h1").text.strip() == "Termin buchen"
            inner = driver.execute_script(
                "return Math.ceil(document.documentElement.getBoundingClientRect().height)")
            driver.switch_to.default_content()
            wait_for(lambda: abs(float(driver.execute_script(
                "return parseFloat(arguments[0].style.height)", iframe)) - max(inner, 200)) <= 2,
                     f"the iframe to be as tall as its page ({inner}px)")
            screenshot(driver, f"{args.shots}-1-website")
            driver.switch_to.frame(iframe)
            driver.find_element(By.PARTIAL_LINK_TEXT, args.service_name).click()
            fill(driver, "Postleitzahl", args.postal_code)
            click_button(driver, "Freie Termine zeigen")
            driver.find_elements(By.CSS_SELECTOR, "a.time")[0].click()
            fill(driver, "Name", "Erika Mustermann")
            fill(driver, "E-Mail-Adresse", "widget@example.com")
            fill(driver, "Straße und Hausnummer", "Gartenweg 5")
            fill(driver, "Ort", "Berlin")
            fill(driver, "Ich bin einverstanden, dass meine Angaben zur Bearbeitung dieser Anfrage gespeichert werden.", True)
            click_button(driver, "Verbindlich buchen")
            heading = driver.find_element(By.TAG_NAME, "h1").text.strip()
            assert heading == "Vielen Dank, Ihr Termin ist gebucht", heading
            check_accessibility(driver, "booked in the widget")
            result["status_path"] = driver.execute_script("return location.pathname")
            driver.switch_to.default_content()
            screenshot(driver, f"{args.shots}-2-booked-in-website")

            # The button variant: a dialog with the booking page; Escape closes it.
            driver.get(f"http://127.0.0.1:{args.allowed_port}/button.html")
            button = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "button.workorders-book"),
                              "the widget's button")[0]
            assert button.text == "Jetzt Termin buchen", button.text
            button.click()
            dialog = driver.find_element(By.CSS_SELECTOR, "[role=dialog]")
            driver.switch_to.frame(dialog.find_element(By.TAG_NAME, "iframe"))
            wait_for(lambda: driver.find_elements(By.TAG_NAME, "h1"), "the booking page in the dialog")
            assert driver.find_element(By.TAG_NAME, "h1").text.strip() == "Termin buchen"
            driver.switch_to.default_content()
            screenshot(driver, f"{args.shots}-3-dialog")
            driver.switch_to.active_element.send_keys(Keys.ESCAPE)
            wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, "[role=dialog]"), "the dialog to close")

            # A website that is not the company's: the browser refuses to show the page.
            driver.get(f"http://127.0.0.1:{args.refused_port}/")
            iframe = wait_for(lambda: driver.find_elements(By.TAG_NAME, "iframe"), "the iframe")[0]
            time.sleep(1.5)  # give a (wrongly) allowed page time to load
            driver.switch_to.frame(iframe)
            text = driver.execute_script("return document.body ? document.body.innerText : ''")
            driver.switch_to.default_content()
            assert "Termin buchen" not in text, f"the page showed on a foreign website: {text[:200]}"
            result["refused"] = True
    finally:
        for server in servers:
            server.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
