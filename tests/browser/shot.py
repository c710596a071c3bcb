"""A screenshot of the status page at URL into PATH, in Debian's Chromium (for the README:
`DEMO_SCREENSHOT=docs/status-page.png make demo`)."""

import sys

from playwright.sync_api import sync_playwright

from page import CHROMIUM_ARGS

url, path = sys.argv[1], sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(url)
    page.screenshot(path=path, full_page=True)
    browser.close()
