"""A customer opens the quote link from the e-mail and accepts the quote with their name,
in a real headless browser. Run by the API test `web::a_customer_accepts_a_quote_in_a_browser`:

    quote_flow.py --url http://127.0.0.1:PORT/quotes/q_... --total "1.832,60 €" \
        --width 360 --javascript off --shots PREFIX

axe-core checks the page before and after (serious or critical violations fail); both are
saved as screenshots. Prints one JSON line with what the page showed.
"""

import argparse
import json
import sys

from selenium.webdriver.common.by import By

from browser import check_accessibility, click_button, fill, open_browser, screenshot


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--total", required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--javascript", choices=["on", "off"], default="on")
    parser.add_argument("--shots", default="quote")
    args = parser.parse_args()
    result = {}
    with open_browser(width=args.width, height=900, javascript=args.javascript == "on") as driver:
        driver.get(args.url)
        heading = driver.find_element(By.TAG_NAME, "h1").text.strip()
        assert heading == "Ihr Angebot", heading
        grand = driver.find_element(By.CSS_SELECTOR, "tr.grand td").text.strip()
        assert grand == args.total, f"total shown: {grand!r}, expected {args.total!r}"
        result["lines"] = len(driver.find_elements(By.CSS_SELECTOR, "table.lines tbody tr"))
        check_accessibility(driver, "quote")
        screenshot(driver, f"{args.shots}-1-quote")
        # Accepting without a name: the browser's own check keeps the form (the field is
        # required; this needs no JavaScript). The server's refusal is tested over HTTP.
        click_button(driver, "Angebot verbindlich annehmen")
        assert "/answer" not in driver.current_url, driver.current_url
        fill(driver, "Ihr vollständiger Name", "Erika Mustermann")
        click_button(driver, "Angebot verbindlich annehmen")
        status = driver.find_element(By.CSS_SELECTOR, "[role=status]").text.strip()
        assert status.startswith("Angenommen von Erika Mustermann"), status
        assert not driver.find_elements(By.CSS_SELECTOR, "form[method=post]"), "the answer is final"
        result["decision"] = status
        check_accessibility(driver, "quote accepted")
        screenshot(driver, f"{args.shots}-2-accepted")
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
