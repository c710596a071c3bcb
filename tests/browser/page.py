"""Drives the status page in Debian's Chromium (headless, through playwright's Python package;
never a browser playwright downloads). Called by tests/browser.rs with the loop's URL, the file
of a group to degrade, and a directory for screenshots. Prints one line per check; exits 1 on
the first that fails."""

import argparse
import re
import sys
import time

from playwright.sync_api import sync_playwright

# What a root sandbox needs, and no call to Google's services from a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--degrade", required=True, help="a group file to edit so it degrades")
    parser.add_argument("--group", required=True, help="that group's name")
    parser.add_argument("--shots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        problems = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

        response = page.goto(args.url)
        check(response is not None and response.status == 200, "the page loads")
        check("default-src 'none'" in (response.headers.get("content-security-policy") or ""), "a strict Content-Security-Policy")
        rows = page.locator("tbody.group")
        check(rows.count() >= 2, f"the groups are shown ({rows.count()})")
        badge = page.locator(f"#group-{args.group} .badge")
        check(badge.inner_text() == "Ready", f"{args.group} is Ready ({badge.inner_text()})")
        check(page.locator("nav.totals a.ready b").inner_text() == str(rows.count()), "the totals count every group as Ready")
        page.screenshot(path=f"{args.shots}/fleet.png", full_page=True)

        # The filter: only the state asked for.
        page.click("nav.totals a.stalled")
        page.wait_for_url(re.compile(r".*\?state=stalled$"))
        check(page.locator("tbody.group").count() == 0, "filtered to Stalled: no group")
        check(page.locator("p.empty").count() == 1, "an empty filter says so")
        page.click("nav.totals a.all")
        page.wait_for_url(re.compile(r".*/$"))
        check(page.locator("tbody.group").count() == rows.count(), "All shows every group again")

        # The group turns Degraded: shown after the page refreshes by itself.
        with open(args.degrade) as f:
            text = f.read()
        with open(args.degrade, "w") as f:
            f.write(re.sub(r"count: \d+", "count: 50", text))
        deadline = time.time() + 60
        state = ""
        while time.time() < deadline:
            page.wait_for_timeout(1000)
            state = page.locator(f"#group-{args.group} .badge").inner_text()
            if state == "Degraded":
                break
        check(state == "Degraded", f"{args.group} shows Degraded after a refresh ({state})")
        check(page.locator("nav.totals a.degraded b").inner_text() == "1", "the totals count it")
        page.screenshot(path=f"{args.shots}/degraded.png", full_page=True)

        # A phone.
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
        phone.on("console", lambda m: problems.append(f"phone console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        phone.goto(args.url)
        width = phone.evaluate("document.documentElement.scrollWidth")
        check(width <= 390, f"no sideways scrolling on a phone ({width} px)")
        phone.screenshot(path=f"{args.shots}/phone.png", full_page=True)

        check(not problems, "no console errors: " + "; ".join(problems))
        browser.close()


if __name__ == "__main__":
    main()
