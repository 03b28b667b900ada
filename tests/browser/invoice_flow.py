"""A customer opens the invoice link from the e-mail: the summary, the status, the bank
details with the GiroCode, the documents. Run by the API test
`web::a_customer_pays_an_invoice_from_its_page`:

    invoice_flow.py --url http://127.0.0.1:PORT/invoices/in_... --total "1.832,60 €" \
        --status "Offen" --width 360 --javascript off --shots PREFIX --qr-png FILE --download-dir DIR

axe-core checks the page (serious or critical violations fail); the page is saved as a
screenshot and the GiroCode as the browser drew it (`--qr-png`), for the Rust test to read
the code back. The PDF is downloaded by a click on its link into `--download-dir` (its
path is in the result, for the Rust test to compare with the issued bytes). Prints one JSON
line with what the page showed.
"""

import argparse
import json
import os
import sys
import time

from selenium.webdriver.common.by import By

from browser import check_accessibility, open_browser, screenshot


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--total", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--javascript", choices=["on", "off"], default="on")
    parser.add_argument("--shots", default="invoice")
    parser.add_argument("--qr-png")
    parser.add_argument("--download-dir", required=True)
    args = parser.parse_args()
    result = {}
    with open_browser(width=args.width, height=900, javascript=args.javascript == "on") as driver:
        driver.get(args.url)
        heading = driver.find_element(By.TAG_NAME, "h1").text.strip()
        assert heading == "Ihre Rechnung", heading
        status = driver.find_element(By.ID, "invoice-status").text.strip()
        assert status.startswith(args.status), f"status shown: {status!r}"
        grand = driver.find_element(By.CSS_SELECTOR, "tr.grand td").text.strip()
        assert grand == args.total, f"total shown: {grand!r}, expected {args.total!r}"
        result["status"] = status
        # Nothing wider than the screen (a phone must not scroll sideways).
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than the window"
        codes = driver.find_elements(By.CSS_SELECTOR, "figure.girocode svg")
        result["girocode"] = bool(codes)
        if codes and args.qr_png:
            with open(args.qr_png, "wb") as out:
                out.write(codes[0].screenshot_as_png)
        links = {
            a.text.strip(): a.get_attribute("href")
            for a in driver.find_elements(By.CSS_SELECTOR, "ul.downloads a")
        }
        result["downloads"] = sorted(links)
        # Download the PDF as a customer does: a click on the link, the browser saves it.
        os.makedirs(args.download_dir, exist_ok=True)
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": args.download_dir},
        )
        driver.find_element(By.PARTIAL_LINK_TEXT, "PDF").click()
        deadline = time.monotonic() + 30
        saved = []
        while time.monotonic() < deadline:
            saved = [
                name
                for name in os.listdir(args.download_dir)
                if name.endswith(".pdf") and not name.endswith(".crdownload")
            ]
            if saved:
                break
            time.sleep(0.1)
        assert saved, f"no PDF was downloaded into {args.download_dir}"
        result["pdf"] = os.path.join(args.download_dir, saved[0])
        assert heading == driver.find_element(By.TAG_NAME, "h1").text.strip(), "still on the page"
        check_accessibility(driver, "invoice")
        screenshot(driver, f"{args.shots}-invoice")
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
