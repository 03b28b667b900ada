"""A customer books on the hosted booking page, then reschedules and cancels on the
booking's private page, in a real headless browser. Run by the API test
`web::a_customer_books_reschedules_and_cancels_in_a_browser` against a running server:

    booking_flow.py --base http://127.0.0.1:PORT --tenant SLUG --service-name NAME \
        --postal-code 10115 --width 360 --javascript off --lang en --shots PREFIX

Every page is checked with axe-core (serious or critical violations fail) and saved as a
screenshot. Prints one JSON line: the status page's path, the booking reference, and what
the double submit did, for the Rust test to check against the API.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium.webdriver.common.by import By

from browser import check_accessibility, click_button, fill, open_browser, screenshot

WORDS = {
    "de": {
        "postal_code": "Postleitzahl",
        "show_times": "Freie Termine zeigen",
        "name": "Name",
        "email": "E-Mail-Adresse",
        "street": "Straße und Hausnummer",
        "city": "Ort",
        "notes": "Worum geht es? (optional)",
        "consent": "Ich bin einverstanden, dass meine Angaben zur Bearbeitung dieser Anfrage gespeichert werden.",
        "book": "Verbindlich buchen",
        "booked": "Vielen Dank, Ihr Termin ist gebucht",
        "reschedule": "Termin verschieben",
        "move": "Auf diese Zeit verschieben",
        "moved": "Ihr Termin ist verschoben",
        "cancel_summary": "Termin absagen",
        "reason": "Grund (freiwillig)",
        "cancel": "Termin absagen",
        "cancelled": "Ihr Termin ist abgesagt.",
        "fix": "Bitte prüfen Sie die markierten Angaben.",
    },
    "en": {
        "postal_code": "Postal code",
        "show_times": "Show free times",
        "name": "Name",
        "email": "E-mail address",
        "street": "Street and number",
        "city": "Town",
        "notes": "What is it about? (optional)",
        "consent": "I agree that my details are stored to handle this request.",
        "book": "Book now",
        "booked": "Thank you, your appointment is booked",
        "reschedule": "Move the appointment",
        "move": "Move to this time",
        "moved": "Your appointment has been moved",
        "cancel_summary": "Cancel the appointment",
        "reason": "Reason (optional)",
        "cancel": "Cancel the appointment",
        "cancelled": "Your appointment is cancelled.",
        "fix": "Please check the marked fields.",
    },
}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_form(url, fields):
    """POSTs a form without following the redirect; returns (status, Location)."""
    data = urllib.parse.urlencode(fields).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(urllib.request.Request(url, data=data, method="POST"))
        return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")


def page_check(driver, name, shots):
    check_accessibility(driver, name)
    screenshot(driver, f"{shots}-{name}")


def settled(driver, condition=lambda: True, seconds=15):
    """Waits until the page has loaded and `condition` holds (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if driver.execute_script("return document.readyState") == "complete" and condition():
                return
        except Exception:  # a page in the middle of navigating
            pass
        time.sleep(0.1)


def heading(driver):
    return driver.find_element(By.TAG_NAME, "h1").text.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--service-name", required=True)
    parser.add_argument("--postal-code", required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--javascript", choices=["on", "off"], default="on")
    parser.add_argument("--lang", choices=["de", "en"], default="de")
    parser.add_argument("--email", default="kunde@example.com")
    parser.add_argument("--shots", default="booking")
    args = parser.parse_args()
    w = WORDS[args.lang]
    base = args.base.rstrip("/")
    result = {}
    with open_browser(width=args.width, height=900, javascript=args.javascript == "on") as driver:
        # The company's booking page, in German first (the browser asks for German).
        driver.get(f"{base}/{args.tenant}/book?lang=de")
        if args.lang == "en":
            driver.find_element(By.CSS_SELECTOR, "a.lang").click()
            assert "lang=en" in driver.current_url, driver.current_url
        page_check(driver, "1-services", args.shots)
        driver.find_element(By.PARTIAL_LINK_TEXT, args.service_name).click()

        # Postal code, then the free times by day.
        fill(driver, w["postal_code"], args.postal_code)
        click_button(driver, w["show_times"])
        page_check(driver, "2-times", args.shots)
        times = driver.find_elements(By.CSS_SELECTOR, "a.time")
        assert times, f"no free times offered on {driver.current_url}"
        times[0].click()

        # Details: first without consent (the page says what is missing), then complete.
        page_check(driver, "3-details", args.shots)
        fill(driver, w["name"], "Erika Mustermann")
        fill(driver, w["email"], args.email)
        fill(driver, w["street"], "Gartenweg 5")
        fill(driver, w["city"], "Berlin")
        fill(driver, w["notes"], "Drei Fenster im Erdgeschoss, Altbau")
        click_button(driver, w["book"])
        assert w["fix"] in driver.page_source, "the missing consent was not reported"
        page_check(driver, "4-details-invalid", args.shots)
        form = {
            e.get_attribute("name"): e.get_attribute("value")
            for e in driver.find_elements(By.CSS_SELECTOR, "form input[type=hidden]")
        }
        fill(driver, w["consent"], True)
        action = driver.find_element(By.CSS_SELECTOR, "form[method=post]").get_attribute("action")
        click_button(driver, w["book"])

        # The confirmation: the booking's private page.
        assert heading(driver) == w["booked"], heading(driver)
        page_check(driver, "5-booked", args.shots)
        status_url = driver.current_url.split("?")[0]
        result["status_path"] = urllib.parse.urlparse(status_url).path
        result["reference"] = driver.find_element(By.CSS_SELECTOR, ".facts dd").text.strip()
        ics = driver.find_element(By.PARTIAL_LINK_TEXT, ".ics").get_attribute("href")
        with urllib.request.urlopen(ics) as response:
            body = response.read().decode()
            assert response.headers.get_content_type() == "text/calendar", response.headers
            assert body.startswith("BEGIN:VCALENDAR"), body[:80]
        result["ics_uid"] = next(l for l in body.splitlines() if l.startswith("UID:"))

        # The same form sent again (double click, back button and resubmit): no second
        # booking, the first one's page.
        again = dict(form, consent="yes", name="Erika Mustermann", email=args.email,
                     street="Gartenweg 5", postal_code=args.postal_code, city="Berlin",
                     notes="Drei Fenster im Erdgeschoss, Altbau")
        status, location = post_form(action, again)
        result["resubmit"] = {"status": status, "location": location}
        assert status == 303 and location.split("?")[0] == result["status_path"], result

        # The back button shows the form again (from the browser's history, with its
        # secret); sending it once more leads to the booking it already made.
        # (Twice here: the entry before the confirmation is the refused first submit.)
        for _ in range(3):
            driver.back()
            settled(driver)
            if "/details" in driver.current_url:
                break
        assert "/details" in driver.current_url, driver.current_url
        fill(driver, w["consent"], True)
        click_button(driver, w["book"])
        settled(driver, lambda: driver.current_url.split("?")[0] == status_url)
        assert driver.current_url.split("?")[0] == status_url, driver.current_url
        result["back_button"] = True

        # Reschedule to another offered time.
        driver.find_element(By.LINK_TEXT, w["reschedule"]).click()
        page_check(driver, "6-reschedule", args.shots)
        choices = driver.find_elements(By.CSS_SELECTOR, "input[type=radio][name=start]")
        assert choices, f"no times to move to on {driver.current_url}"
        result["moved_to"] = choices[0].get_attribute("value")
        driver.find_element(By.CSS_SELECTOR, f"label[for='{choices[0].get_attribute('id')}']").click()
        click_button(driver, w["move"])
        assert w["moved"] in driver.page_source, driver.page_source[:2000]
        page_check(driver, "7-moved", args.shots)

        # Cancel with a reason.
        driver.find_element(By.CSS_SELECTOR, "details.cancel summary").click()
        fill(driver, w["reason"], "Wir sind umgezogen")
        click_button(driver, w["cancel"])
        assert w["cancelled"] in driver.page_source, driver.page_source[:2000]
        page_check(driver, "8-cancelled", args.shots)

        # A forged cancel (no CSRF token of this link) is refused.
        status, _ = post_form(f"{status_url}/cancel", {"csrf": "forged", "reason": ""})
        assert status == 403, status
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
