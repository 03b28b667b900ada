"""Drives the customer-facing pages in a real headless browser for the tests.

Debian's chromium through chromium-driver (`/usr/bin/chromium`, `/usr/bin/chromedriver`),
Selenium from `tests/requirements.txt` and axe-core from `tests/browser/node_modules` (all
installed by `.ci/setup-tools`). A page test imports this module (it sits next to the test
scripts, so a plain `import browser` works):

    from browser import open_browser, check_accessibility, screenshot, fill, click_button

    with open_browser(width=360, height=800) as driver:
        driver.get(base_url + "/book/acme")
        check_accessibility(driver, "booking form")
        fill(driver, "Your name", "Ada Lovelace")
        click_button(driver, "Book")
        screenshot(driver, "booking-confirmed")

Elements are found the way a user finds them, by the accessible name the browser computes
(label text, button text), so the tests exercise the names that screen readers announce.
"""

import base64
import os
import re
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ROOT = HERE.parent.parent
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe has no rule tagged wcag22a).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
# Below this width the browser emulates a phone: the page's meta viewport applies.
PHONE_BELOW = 768


def open_browser(width=1280, height=900, javascript=True):
    """Starts headless chromium with a viewport of exactly `width` x `height` CSS pixels.

    Narrower than 768 px it emulates a phone (mobile layout, the page's meta viewport
    applies), as customers on phones see the pages. With `javascript=False` the pages'
    scripts do not run (`<noscript>` content shows), for the tests of progressive
    enhancement: this uses DevTools' script-execution switch rather than the profile's
    JavaScript content setting, because that setting also stops the timers axe-core needs,
    and `check_accessibility` must check exactly the page the JS-off session shows (a page
    reached by a form POST cannot be reloaded in another session). The switch applies to
    this tab across navigations; keep a JS-off test in one tab.

    Returns the Selenium driver; use it as a context manager (or call `quit()`).
    """
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        # Headless chromium keeps windows at least 500 px wide: set the viewport directly.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": width < PHONE_BELOW,
            },
        )
        _set_scripts(driver, enabled=javascript)
    except BaseException:
        driver.quit()
        raise
    driver.javascript = javascript
    return driver


def _set_scripts(driver, enabled):
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not enabled})


def axe_violations(driver):
    """Runs axe-core (WCAG 2.0/2.1/2.2, A and AA) on the current page; returns its violations.

    Each violation is axe's dict (`id`, `impact`, `help`, `nodes` with `target`s). In a
    JS-off session the pages' scripts stay off: scripts are allowed only while axe runs,
    which runs nothing of the page's (its skipped scripts do not come back).
    """
    javascript = getattr(driver, "javascript", True)
    if not javascript:
        _set_scripts(driver, enabled=True)
    try:
        driver.execute_script(AXE.read_text(encoding="utf-8"))
        outcome = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: "tag", values: arguments[0]}})
              .then(results => done({violations: results.violations}))
              .catch(error => done({error: String(error)}));
            """,
            WCAG_TAGS,
        )
    finally:
        if not javascript:
            _set_scripts(driver, enabled=False)
    if "error" in outcome:
        raise RuntimeError(f"axe-core failed on {driver.current_url}: {outcome['error']}")
    return outcome["violations"]


def check_accessibility(driver, page_name):
    """Fails (AssertionError) when axe-core finds a serious or critical violation.

    The message names `page_name`, the URL and, per violation, the rule id, impact, help text
    and the first offending elements. Returns all violations (minor and moderate ones too) for
    a test that wants to look closer.
    """
    violations = axe_violations(driver)
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        lines = [
            f"{page_name} ({driver.current_url}): {len(blocking)} serious or critical "
            "accessibility violation(s):"
        ]
        for v in blocking:
            targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])]
            shown = ", ".join(targets[:3])
            if len(targets) > 3:
                shown += f" (+{len(targets) - 3} more)"
            lines.append(f"  - {v['id']} [{v['impact']}]: {v['help']} at {shown}")
        raise AssertionError("\n".join(lines))
    return violations


def screenshot(driver, name):
    """Saves a full-page PNG as `<name>.png` in `WORKORDERS_SCREENSHOT_DIR` (default
    `target/browser-screenshots` in the repository), creating the directory; returns its path.
    """
    default = ROOT / "target" / "browser-screenshots"
    directory = Path(os.environ.get("WORKORDERS_SCREENSHOT_DIR") or default)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") + ".png")
    # The whole document (at least the window, without a desktop page's scrollbar).
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _name(element):
    return " ".join((element.accessible_name or "").split())


def _find(driver, css, text, what, by_name_attribute=False):
    """The visible element matching `css` whose accessible name is `text` (whitespace
    normalised), else, with `by_name_attribute`, whose `name` attribute is `text`."""
    wanted = " ".join(text.split())
    candidates = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    for element in candidates:
        if _name(element) == wanted:
            return element
    if by_name_attribute:
        for element in candidates:
            if element.get_attribute("name") == text:
                return element
    names = sorted({_name(e) for e in candidates})
    raise AssertionError(f"no {what} named {wanted!r} on {driver.current_url}; there are: {names}")


def fill(driver, label_text_or_name, value):
    """Fills the form field whose accessible name (its label text) is `label_text_or_name`,
    or else whose `name` attribute is. Text fields are cleared and typed into; a `<select>`
    picks the option with that visible text; a checkbox or radio button is set to
    `bool(value)`. Returns the field.
    """
    css = "input:not([type=hidden]):not([type=submit]):not([type=button]), textarea, select"
    field = _find(driver, css, label_text_or_name, "form field", by_name_attribute=True)
    kind = (field.get_attribute("type") or "").lower()
    if field.tag_name == "select":
        Select(field).select_by_visible_text(value)
    elif kind in ("checkbox", "radio"):
        if field.is_selected() != bool(value):
            field.click()
    else:
        field.clear()
        field.send_keys(value)
    return field


def left(element):
    """Whether `element`'s document has been replaced by the next page.

    chromedriver reports a node of a document being torn down either as a stale
    reference or, in a short window, as "does not belong to the document".
    """
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error) or "No node with given id" in str(error):
            return True
        raise


def click_button(driver, text):
    """Clicks the visible button whose accessible name is `text` (a `<button>`, an
    `<input type=submit|button>` or an element with role=button). Returns the button.

    When the click submits a form and the browser goes to a new page, returns once that page
    has loaded. A submission that the page's own script takes over (it prevents the default)
    is not waited for: the test waits for what that script shows.
    """
    css = "button, input[type=submit], input[type=button], [role=button]"
    button = _find(driver, css, text, "button")
    javascript = getattr(driver, "javascript", True)
    submits = driver.execute_script(
        """
        const [button, javascript] = arguments, form = button.form;
        if (!form || button.type !== "submit") return false;
        // A form that fails its constraint validation is not sent.
        if (!(form.noValidate || button.formNoValidate || form.checkValidity())) return false;
        window.__workordersNavigates = false;
        if (javascript) {
          // Runs after the page's own submit handlers on the form and the document.
          window.addEventListener("submit", event => {
            window.__workordersNavigates = !event.defaultPrevented;
          }, {once: true});
        }
        return true;
        """,
        button,
        javascript,
    )
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    # A new document has no marker (None); the old one says whether it is being left.
    if submits and (
        not javascript or driver.execute_script("return window.__workordersNavigates") is not False
    ):
        WebDriverWait(driver, 30).until(lambda _: left(page))
        WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
    return button
