"""A customer opens the quote link from the e-mail and accepts the quote with their name,
in a real headless browser. Run by the API test `web::a_customer_accepts_a_quote_in_a_browser`:

    quote_flow.py --url http://127.0.0.1:PORT/quotes/q_... --total "1.832,60 €" \
        --width 360 --javascript off --shots PREFIX [--brand "#ffd400" --imprint URL]

axe-core checks the page before and after (serious or critical violations fail); both are
saved as screenshots. With `--brand`, the company has that accent colour, a logo and legal
links: the accept button is filled with the colour, its text and the page's links stay
readable (axe's contrast rule), the logo loads under the page's policy and the footer links
the imprint. Prints one JSON line with what the page showed.
"""

import argparse
import json
import sys

from selenium.webdriver.common.by import By

from browser import check_accessibility, click_button, fill, open_browser, screenshot


def hex_of(computed):
    """A computed colour (`rgb(255, 212, 0)` or `rgba(255, 212, 0, 1)`) as `#ffd400`."""
    inside = computed[computed.index("(") + 1 : computed.index(")")]
    r, g, b = (int(float(part)) for part in inside.split(",")[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def check_brand(driver, colour, imprint):
    """The company's branding as the browser shows it."""
    accept = driver.find_element(By.CSS_SELECTOR, "button.primary")
    fill = hex_of(accept.value_of_css_property("background-color"))
    assert fill == colour.lower(), f"the accept button is {fill}, not {colour}"
    logo = driver.find_element(By.CSS_SELECTOR, "header img.logo")
    assert logo.get_attribute("alt"), "the logo names the company"
    loaded = driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", logo
    )
    assert loaded, "the logo loads under the page's Content-Security-Policy"
    links = {a.text.strip(): a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "footer a")}
    assert links.get("Impressum") == imprint, f"footer links: {links}"
    assert "Datenschutz" in links, f"footer links: {links}"
    text = hex_of(accept.value_of_css_property("color"))
    return {"fill": fill, "text": text, "footer": sorted(links)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--total", required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--javascript", choices=["on", "off"], default="on")
    parser.add_argument("--shots", default="quote")
    parser.add_argument("--brand", help="the company's accent colour, #rrggbb")
    parser.add_argument("--imprint", help="the company's imprint link")
    args = parser.parse_args()
    result = {}
    with open_browser(width=args.width, height=900, javascript=args.javascript == "on") as driver:
        driver.get(args.url)
        heading = driver.find_element(By.TAG_NAME, "h1").text.strip()
        assert heading == "Ihr Angebot", heading
        grand = driver.find_element(By.CSS_SELECTOR, "tr.grand td").text.strip()
        assert grand == args.total, f"total shown: {grand!r}, expected {args.total!r}"
        result["lines"] = len(driver.find_elements(By.CSS_SELECTOR, "table.lines tbody tr"))
        if args.brand:
            result["brand"] = check_brand(driver, args.brand, args.imprint)
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
