"""The HTML export opened from file:// in a real headless browser (Debian's chromium, driven by
Selenium through Debian's chromium-driver): the index lists every tag, the filter box filters, a
note sits beside its line, and hostile notes, metadata, paths, code and tour text run nothing and
show as text. Screenshots are kept under the test's tmp dir (`screenshots/`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magicmarkup.export_html import export_html
from magicmarkup.tags import list_tags
from tests.export_site import ExportRepo, build

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def _found() -> tuple[str, str] | None:
    browser = next((p for p in CHROMIUM if os.path.exists(p)), None)
    driver = next((p for p in DRIVER if os.path.exists(p)), None)
    return (browser, driver) if browser and driver else None


def find_or_install_chromium() -> tuple[str, str] | None:
    """Debian's chromium and chromium-driver, installed when missing and we may (a fresh CI
    machine is root on Debian): without them this test would skip everywhere but here."""
    found = _found()
    if found or shutil.which("apt-get") is None or os.geteuid() != 0:
        return found
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
    for steps in ([install], [["apt-get", "update", "-q"], install]):
        try:
            for step in steps:
                subprocess.run(step, capture_output=True, timeout=600, check=True)
        except (subprocess.SubprocessError, OSError):
            continue
        return _found()
    return None


CHROME = find_or_install_chromium()
pytestmark = pytest.mark.skipif(CHROME is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExportRepo, Path]:
    repo = build(tmp_path_factory.mktemp("export") / "repo")
    out = repo.root.parent / "site"
    export_html(repo.store, out)
    return repo, out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROME is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROME[0]
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROME[1]))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def open_page(driver: Any, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def nothing_ran(driver: Any) -> None:
    """No hostile payload ran: no alert, no global set, no element it would have made."""
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    counts = driver.execute_script(
        "return [document.scripts.length, document.images.length,"
        " document.querySelectorAll('a[href^=\"javascript:\" i], [onerror], [onmouseover]').length,"
        " performance.getEntriesByType('resource').filter(e => !e.name.startsWith('file:')).length]"
    )
    assert counts == [1, 0, 0, 0]  # site.js only; no image, no script link, nothing fetched


def typed(driver: Any, box: Any, text: str) -> None:
    """Type into the filter box and wait until the filter has seen all of it."""
    from selenium.webdriver.support.ui import WebDriverWait

    box.clear()
    box.send_keys(text)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return arguments[0].value", box) == text)


def visible_tags(driver: Any) -> int:
    return int(
        driver.execute_script("return [...document.querySelectorAll('.tag')].filter(e => !e.hidden).length")
    )


def test_index_lists_every_tag_and_the_filter_filters(
    site: tuple[ExportRepo, Path], browser: Any, shots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    repo, out = site
    tags = list_tags(repo.store)
    open_page(browser, out / "index.html")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    browser.save_screenshot(str(shots / "index.png"))
    links = [e.get_attribute("href") for e in browser.find_elements(By.CSS_SELECTOR, ".tag a.place")]
    assert len(links) == len(tags) == visible_tags(browser)
    for tag in tags:
        assert sum(link.endswith(f"#tag-{tag.id}") for link in links) == 1, tag.id
    assert browser.find_element(By.ID, "count").text == f"{len(tags)} tags"
    box = browser.find_element(By.ID, "filter")
    typed(browser, box, "walrus")  # a word of one note
    assert visible_tags(browser) == 1
    assert browser.find_element(By.ID, "count").text == f"1 of {len(tags)} tags"
    shown = [e for e in browser.find_elements(By.CSS_SELECTOR, ".tag") if e.is_displayed()]
    assert "unique-note-walrus" in shown[0].text
    # the other files' groups are hidden with their tags
    files = [e for e in browser.find_elements(By.CSS_SELECTOR, "section.file") if e.is_displayed()]
    assert len(files) == 1 and "src/prices.py" in files[0].text
    browser.save_screenshot(str(shots / "index-filtered.png"))
    typed(browser, box, "orphaned")
    orphaned = sum(t.status.value == "orphaned" for t in tags)
    assert orphaned >= 1 and visible_tags(browser) == orphaned
    typed(browser, box, "rate tariff 25")  # every word must match
    assert visible_tags(browser) == 1
    typed(browser, box, " ")
    assert visible_tags(browser) == len(tags)
    nothing_ran(browser)


def test_a_note_sits_beside_its_line_and_hostile_text_is_text(
    site: tuple[ExportRepo, Path], browser: Any, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    repo, out = site
    tags = {t.id: t for t in list_tags(repo.store)}
    open_page(browser, out / "index.html")
    browser.find_element(By.CSS_SELECTOR, f'a.place[href$="#tag-{repo.price_id}"]').click()
    card = browser.find_element(By.ID, f"tag-{repo.price_id}")
    row = card.find_element(By.XPATH, "./ancestor::tr")
    text = repo.store.read_document("src/prices.py")
    line = text[: tags[repo.price_id].span.start].count("\n") + 1
    assert row.get_attribute("id") == f"L{line}"
    assert row.find_elements(By.TAG_NAME, "td")[1].text.strip() == "return qty * rate"
    assert "tagged" in (row.get_attribute("class") or "")
    assert "Why not Decimal?" in card.text and card.find_element(By.TAG_NAME, "strong").text == "not"
    assert "<b onmouseover=window.__pwned=7>T-1</b>" in card.text  # a metadata value, as text
    browser.save_screenshot(str(shots / "file-page.png"))
    nothing_ran(browser)
    hostile = browser.find_element(By.ID, f"tag-{repo.hostile_id}")
    browser.execute_script("arguments[0].scrollIntoView()", hostile)
    for expected in (
        "<script>window.__pwned = 1</script>",
        "[click me](javascript:window.__pwned=3)",
        '<img src="x" onerror="window.__pwned=2">',
        '<a href="javascript:window.__pwned=4">raw link</a>',
    ):
        assert expected in hostile.text
    for link in hostile.find_elements(By.TAG_NAME, "a"):  # its only link is its own place
        link.click()
    browser.save_screenshot(str(shots / "hostile-note.png"))
    nothing_ran(browser)
    csp = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert csp == []  # the site itself needs nothing the policy forbids


def test_hostile_paths_code_and_tours_run_nothing(
    site: tuple[ExportRepo, Path], browser: Any, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    repo, out = site
    open_page(browser, out / "index.html")
    browser.find_element(By.CSS_SELECTOR, f'a.place[href$="#tag-{repo.path_id}"]').click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "src/<img src=x onerror=window.__pwned=5>.py"
    assert (
        'PAYLOAD = "</pre></td><script>window.__pwned = 6</script>"' in browser.find_element(By.ID, "L1").text
    )
    nothing_ran(browser)
    open_page(browser, out / "tours" / "walk.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "A walk <script>window.__pwned=8</script>"
    steps = browser.find_elements(By.CSS_SELECTOR, "ol.tour > li")
    assert len(steps) == 5
    assert "Start here. <img src=x onerror=window.__pwned=9>" in steps[0].text
    assert "return qty * rate" in steps[1].text and "directory: src" in steps[3].text
    browser.save_screenshot(str(shots / "tour.png"))
    nothing_ran(browser)
    steps[1].find_element(By.CSS_SELECTOR, "a.place").click()  # a step links to its note
    assert browser.execute_script("return location.hash") == f"#tag-{repo.price_id}"
    nothing_ran(browser)
