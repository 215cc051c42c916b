"""Hand cases of the classes of *silent* misplacement (issue #14, item 3): edits where the cheap
cascade used to put a tag confidently (anchored/moved/changed) on the wrong code.

Each case marks the tagged span in the old text and the right span in the new text with
``⟦ ⟧``. The rule every case checks: a confident placement is on the right code; anything the
engine is not sure of is `needs_review` (best guess kept) -- never a confident wrong place.
Some classes also require that the tag is not orphaned (its text is plainly still there)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from magicmarkup import Status, reanchor

CONFIDENT = (Status.ANCHORED, Status.MOVED, Status.CHANGED)


@dataclass(frozen=True)
class Hand:
    name: str
    language: str
    old: str  # with the tagged span between the markers
    new: str  # with the right answer between the markers
    must_place: bool = True  # the code is still there: orphaned is a miss too
    must_be_right: bool = False  # evidence is conclusive: the right span, confidently


def _cut(marked: str) -> tuple[str, int, int]:
    start = marked.index("⟦")
    end = marked.index("⟧") - 1
    return marked.replace("⟦", "").replace("⟧", ""), start, end


def _squash(text: str) -> str:
    return "".join(text.split())


# --- a helper extracted from a function: the tag must not follow the extracted half -----------

SPLIT_PY = Hand(
    "split-python",
    "python",
    """import smtplib


⟦def process(items, mailer):
    total = 0
    for item in items:
        if item.valid and item.qty > 0:
            total += item.price * item.qty
    report = format_report(total, len(items))
    mailer.send(report, to="billing@example.com")
    return total⟧


def format_report(total, count):
    return f"{count} items, {total:.2f}"
""",
    """import smtplib


⟦def process(items, mailer):
    total = compute_total(items)
    report = format_report(total, len(items))
    mailer.send(report, to="billing@example.com")
    return total⟧


def compute_total(items):
    total = 0
    for item in items:
        if item.valid and item.qty > 0:
            total += item.price * item.qty
    return total


def format_report(total, count):
    return f"{count} items, {total:.2f}"
""",
)

SPLIT_TS = Hand(
    "split-typescript",
    "typescript",
    """import { Order } from "./order";

export function summarize(orders: Order[]): string {
  ⟦let paid = 0;
  let pending = 0;
  for (const order of orders) {
    if (order.status === "paid") {
      paid += order.amount;
    } else if (order.status === "pending") {
      pending += order.amount;
    }
  }
  const ratio = paid / Math.max(1, paid + pending);
  return `paid ${paid}, pending ${pending}, ratio ${ratio.toFixed(2)}`;⟧
}
""",
    """import { Order } from "./order";

export function summarize(orders: Order[]): string {
  ⟦const [paid, pending] = totals(orders);
  const ratio = paid / Math.max(1, paid + pending);
  return `paid ${paid}, pending ${pending}, ratio ${ratio.toFixed(2)}`;⟧
}

function totals(orders: Order[]): [number, number] {
  let paid = 0;
  let pending = 0;
  for (const order of orders) {
    if (order.status === "paid") {
      paid += order.amount;
    } else if (order.status === "pending") {
      pending += order.amount;
    }
  }
  return [paid, pending];
}
""",
)

SPLIT_GO = Hand(
    "split-go",
    "go",
    """package billing

⟦func Process(items []Item, out io.Writer) (float64, error) {
	total := 0.0
	for _, item := range items {
		if item.Valid && item.Qty > 0 {
			total += item.Price * float64(item.Qty)
		}
	}
	_, err := fmt.Fprintf(out, "%d items, %.2f\\n", len(items), total)
	return total, err
}⟧
""",
    """package billing

⟦func Process(items []Item, out io.Writer) (float64, error) {
	total := sum(items)
	_, err := fmt.Fprintf(out, "%d items, %.2f\\n", len(items), total)
	return total, err
}⟧

func sum(items []Item) float64 {
	total := 0.0
	for _, item := range items {
		if item.Valid && item.Qty > 0 {
			total += item.Price * float64(item.Qty)
		}
	}
	return total
}
""",
)

# --- the same statement in two functions; the tagged function moves past its twin ------------

TWIN_GO = Hand(
    "twin-go",
    "go",
    """package flags

func TestInt32Slice(t *testing.T) {
	vals := []string{"1", "2"}
	got, err := f.GetInt32Slice("is")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		⟦d64, err := strconv.ParseInt(vals[i], 0, 32)⟧
		if err != nil {
			t.Fatalf("got error: %v", err)
		}
		if int32(d64) != v {
			t.Fatalf("expected %s but got %d", vals[i], v)
		}
	}
}

func TestInt32SliceDefault(t *testing.T) {
	vals := []string{"0", "1"}
	got, err := f.GetInt32Slice("is")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		d64, err := strconv.ParseInt(vals[i], 0, 32)
		if err != nil {
			t.Fatalf("got error: %v", err)
		}
		if int32(d64) != v {
			t.Fatalf("expected %s but got %d", vals[i], v)
		}
	}
}
""",
    """package flags

func TestInt32SliceDefault(t *testing.T) {
	vals := []string{"0", "1"}
	got, err := f.GetInt32Slice("is")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		d64, err := strconv.ParseInt(vals[i], 0, 32)
		if err != nil {
			t.Fatalf("got error: %v", err)
		}
		if int32(d64) != v {
			t.Fatalf("expected %s but got %d", vals[i], v)
		}
	}
}

func TestInt32Slice(t *testing.T) {
	vals := []string{"1", "2"}
	got, err := f.GetInt32Slice("is")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		⟦d64, err := strconv.ParseInt(vals[i], 0, 32)⟧
		if err != nil {
			t.Fatalf("got error: %v", err)
		}
		if int32(d64) != v {
			t.Fatalf("expected %s but got %d", vals[i], v)
		}
	}
}
""",
)

TWIN_C = Hand(
    "twin-c",
    "c",
    """static PyObject *
escape_kind1(PyObject *in)
{
    Py_ssize_t delta = count(in);
    if (!delta) {
        return in;
    }
    out = PyUnicode_New(⟦PyUnicode_GET_LENGTH(in) + delta⟧, 127);
    return out;
}

static PyObject *
escape_kind2(PyObject *in)
{
    Py_ssize_t delta = count(in);
    if (!delta) {
        return in;
    }
    out = PyUnicode_New(PyUnicode_GET_LENGTH(in) + delta, 65535);
    return out;
}
""",
    """static PyObject *
escape_kind2(PyObject *in)
{
    Py_ssize_t delta = count(in);
    if (!delta) {
        return in;
    }
    out = PyUnicode_New(PyUnicode_GET_LENGTH(in) + delta, 65535);
    return out;
}

static PyObject *
escape_kind1(PyObject *in)
{
    Py_ssize_t delta = count(in);
    if (!delta) {
        return in;
    }
    out = PyUnicode_New(⟦PyUnicode_GET_LENGTH(in) + delta⟧, 127);
    return out;
}
""",
)

TWIN_JAVA = Hand(
    "twin-java",
    "java",
    """class Storage {
    void readAll(Cursor cursor) {
        while (cursor.moveToNext()) {
            ⟦String key = cursor.getString(0);⟧
            keys.add(key);
        }
        cursor.close();
    }

    void removeAll(Cursor cursor) {
        while (cursor.moveToNext()) {
            String key = cursor.getString(0);
            db.delete(TABLE, KEY + "=?", new String[] {key});
        }
        cursor.close();
    }
}
""",
    """class Storage {
    void removeAll(Cursor cursor) {
        while (cursor.moveToNext()) {
            String key = cursor.getString(0);
            db.delete(TABLE, KEY + "=?", new String[] {key});
        }
        cursor.close();
    }

    void readAll(Cursor cursor) {
        while (cursor.moveToNext()) {
            ⟦String key = cursor.getString(0);⟧
            keys.add(key);
        }
        cursor.close();
    }
}
""",
)

# --- a one-line assignment wrapped into a retry loop, its literal edited ---------------------

RETRY_PY = Hand(
    "retry-python",
    "python",
    """import time


def start(app):
    app.log("starting")
    ⟦config = load_config("settings.yaml")⟧
    app.configure(config)
    app.run()
""",
    """import time


def start(app):
    app.log("starting")
    while True:
        try:
            ⟦config = load_config("settings.yml")⟧
            break
        except OSError:
            time.sleep(1)
    app.configure(config)
    app.run()
""",
)

RETRY_TS = Hand(
    "retry-typescript",
    "typescript",
    """export async function start(app: App): Promise<void> {
  app.log("starting");
  ⟦const config = await loadConfig("settings.yaml", { strict: true });⟧
  app.configure(config);
  await app.run();
}
""",
    """export async function start(app: App): Promise<void> {
  app.log("starting");
  let config: Config;
  while (true) {
    try {
      ⟦config = await loadConfig("settings.yml", { strict: true });⟧
      break;
    } catch (err) {
      await sleep(1000);
    }
  }
  app.configure(config);
  await app.run();
}
""",
)

# --- a class header gains a base class while its body is rewritten ---------------------------

CLASS_PY = Hand(
    "class-header-python",
    "python",
    """import os


⟦class App:
    def __init__(self, name):
        self.name = name
        self.routes = {}

    def route(self, path):
        def register(fn):
            self.routes[path] = fn
            return fn
        return register⟧


def main():
    App("demo")
""",
    """import os


⟦class App(Base):
    def __init__(self, name, debug=False):
        super().__init__(name)
        self.debug = debug
        self.routes = {}

    def route(self, path, methods=("GET",)):
        def register(fn):
            self.routes[path] = (fn, methods)
            return fn
        return register⟧


def main():
    App("demo")
""",
)

CLASS_JAVA = Hand(
    "class-header-java",
    "java",
    """package demo;

⟦public class App {
    private final String name;

    public App(String name) {
        this.name = name;
    }

    public String greet() {
        return "hello " + name;
    }
}⟧
""",
    """package demo;

⟦public class App extends Base {
    private final String name;
    private final boolean debug;

    public App(String name, boolean debug) {
        super(name);
        this.name = name;
        this.debug = debug;
    }

    public String greet() {
        return (debug ? "[debug] " : "") + "hello " + name;
    }
}⟧
""",
)

# --- a small constant replaced by an expression; the same constant lives elsewhere -----------

CONST_PY = Hand(
    "constant-python",
    "python",
    """def connect(host):
    retries = ⟦3⟧
    while retries:
        retries -= 1
        if ping(host):
            return True
    return False


def backoff(attempt):
    return min(60, 2 ** attempt) * 3
""",
    """def connect(host, settings):
    retries = ⟦settings.max_attempts - 1⟧
    while retries:
        retries -= 1
        if ping(host):
            return True
    return False


def backoff(attempt):
    return min(60, 2 ** attempt) * 3
""",
    must_place=False,
)

CONST_C = Hand(
    "constant-c",
    "c",
    """int open_port(const char *host)
{
    int tries = ⟦5⟧;
    while (tries--) {
        if (try_open(host) == 0)
            return 0;
    }
    return -1;
}

int wait_time(int n)
{
    return n * 5;
}
""",
    """int open_port(const char *host, const struct opts *o)
{
    int tries = ⟦o->max_tries + 1⟧;
    while (tries--) {
        if (try_open(host) == 0)
            return 0;
    }
    return -1;
}

int wait_time(int n)
{
    return n * 5;
}
""",
    must_place=False,
)

CONST_RUST = Hand(
    "constant-rust",
    "rust",
    """fn limit(cfg: &Config) -> usize {
    let base = ⟦64⟧;
    base.min(cfg.cap)
}

fn chunk() -> usize {
    64
}
""",
    """fn limit(cfg: &Config) -> usize {
    let base = ⟦cfg.page_size * 2⟧;
    base.min(cfg.cap)
}

fn chunk() -> usize {
    64
}
""",
    must_place=False,
)

# --- a JSX block rewritten into a component call ----------------------------------------------

JSX = Hand(
    "jsx-component",
    "tsx",
    """export function ProductList({ products }: Props) {
  return (
    <section className="list">
      {products.map((product) => (
        ⟦<div className="card" key={product.id}>
          <img src={product.image} alt={product.name} />
          <h2>{product.name}</h2>
          <p className="price">{formatPrice(product.price)}</p>
        </div>⟧
      ))}
    </section>
  );
}
""",
    """export function ProductList({ products }: Props) {
  return (
    <section className="list">
      {products.map((product) => (
        ⟦<ProductCard key={product.id} image={product.image} name={product.name} price={product.price} />⟧
      ))}
    </section>
  );
}
""",
)

# --- a short identifier renamed: a search must not match it inside the longer name -----------

RENAMED_ID_CPP = Hand(
    "renamed-identifier-cpp",
    "cpp",
    """static void construct(Json& j, const std::vector<bool>& arr)
{
    j.reserve(arr.size());
    for (const bool x : ⟦arr⟧)
    {
        j.push_back(x);
    }
}
""",
    """static void construct(Json& j, const std::vector<bool>& arr_new)
{
    j.reserve(arr_new.size());
    for (const bool x : ⟦arr_new⟧)
    {
        j.push_back(x);
    }
}
""",
)

JSX_SHORT = Hand(
    "jsx-component-short",
    "tsx",
    """export function ProductList({ products }: Props) {
  return (
    <section className="list">
      {products.map((product) => (
        ⟦<div className="card" key={product.id}>
          <img src={product.image} alt={product.name} />
          <h2>{product.name}</h2>
          <p className="price">{formatPrice(product.price)}</p>
          <button onClick={() => addToCart(product.id)}>Add to cart</button>
        </div>⟧
      ))}
    </section>
  );
}
""",
    """export function ProductList({ products }: Props) {
  return (
    <section className="list">
      {products.map((product) => (
        ⟦<ProductCard key={product.id} product={product} onAdd={addToCart} />⟧
      ))}
    </section>
  );
}
""",
)

CLASS_REWRITTEN_PY = Hand(
    "class-rewritten-python",
    "python",
    """from dataclasses import dataclass

⟦class App:
    def __init__(self, name):
        self.name = name
        self.routes = {}

    def run(self):
        for path, fn in self.routes.items():
            print(path, fn)⟧
""",
    """from dataclasses import dataclass
from base import Base

⟦class App(Base):
    name: str
    routes: dict

    def serve(self, port=8000):
        self.server = make_server(port, self.dispatch)
        self.server.serve_forever()⟧
""",
)

CLASS_REWRITTEN_RUST = Hand(
    "class-rewritten-rust",
    "rust",
    """use std::collections::HashMap;

⟦struct App {
    name: String,
    routes: HashMap<String, Handler>,
}⟧

fn main() {}
""",
    """use std::collections::HashMap;

⟦struct App<B: Backend> {
    backend: B,
    debug: bool,
}⟧

fn main() {}
""",
)

CONST_TS = Hand(
    "constant-typescript",
    "typescript",
    """export function paginate(items: Item[]): Item[][] {
  const pageSize = ⟦20⟧;
  const pages: Item[][] = [];
  for (let i = 0; i < items.length; i += pageSize) {
    pages.push(items.slice(i, i + pageSize));
  }
  return pages;
}
""",
    """export function paginate(items: Item[], pageSize = 20): Item[][] {
  const size = ⟦Math.max(1, Math.floor(pageSize))⟧;
  const pages: Item[][] = [];
  for (let i = 0; i < items.length; i += size) {
    pages.push(items.slice(i, i + size));
  }
  return pages;
}
""",
    must_place=False,
)

RETRY_PY_LONG = Hand(
    "retry-python-long",
    "python",
    """import os
import time


class Bot:
    def start(self):
        self.log.info("starting bot %s", self.name)
        ⟦self.client = ApiClient(host="api.example.com", port=443, token=os.environ["BOT_TOKEN"])⟧
        self.log.info("connected")
        self.loop()
""",
    """import os
import time


class Bot:
    def start(self):
        self.log.info("starting bot %s", self.name)
        while True:
            try:
                self.log.info("connecting to %s", self.host)
                ⟦self.client = ApiClient(host=self.host, port=443, token=os.environ["BOT_API_TOKEN"])⟧
                break
            except ConnectionError as exc:
                self.log.warning("retrying after %s", exc)
                time.sleep(5)
        self.log.info("connected")
        self.loop()
""",
)

# --- a split with no syntax to tell the halves apart by name ---------------------------------

SPLIT_C = Hand(
    "split-c",
    "c",
    """#include <stdio.h>

int report(const struct item *items, int n, FILE *out)
{
    ⟦double total = 0.0;
    int valid = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].qty > 0) {
            total += items[i].price * items[i].qty;
            valid++;
        }
    }
    fprintf(out, "%d valid items, total %.2f\\n", valid, total);
    return valid;⟧
}
""",
    """#include <stdio.h>

static double sum_valid(const struct item *items, int n, int *valid)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        if (items[i].qty > 0) {
            total += items[i].price * items[i].qty;
            (*valid)++;
        }
    }
    return total;
}

int report(const struct item *items, int n, FILE *out)
{
    ⟦int valid = 0;
    double total = sum_valid(items, n, &valid);
    fprintf(out, "%d valid items, total %.2f\\n", valid, total);
    return valid;⟧
}
""",
)

# --- a whole definition gains a decorator: new code above the tag, like an inserted line -------
# (the real-history suites' answer key says so too; it stays exactly the tagged text, `moved`)

DECORATED_PY = Hand(
    "definition-decorated-python",
    "python",
    """import pytest


⟦def test_roundtrip(tmp_path):
    path = tmp_path / "data.json"
    save(path, {"a": 1})
    assert load(path) == {"a": 1}⟧


def test_other():
    assert True
""",
    """import pytest


@pytest.mark.skipif(IS_PYPY, reason="flaky on PyPy")
⟦def test_roundtrip(tmp_path):
    path = tmp_path / "data.json"
    save(path, {"a": 1})
    assert load(path) == {"a": 1}⟧


def test_other():
    assert True
""",
    must_be_right=True,
)

# --- a tag that had its decorators keeps them all when one more is added ------------------------

REDECORATED_PY = Hand(
    "definition-redecorated-python",
    "python",
    """import functools


⟦@functools.cache
def table(n):
    return [i * i for i in range(n)]⟧
""",
    """import functools


⟦@trace
@functools.cache
def table(n):
    return [i * i for i in range(n)]⟧
""",
    must_be_right=True,
)

# --- a whole definition grows lines at its end: the tag keeps all of it -------------------------

GROWN_CLASS_PY = Hand(
    "definition-grown-python",
    "python",
    """from unittest import TestCase


⟦class TestDecode(TestCase):
    def test_empty(self):
        self.assertEqual(decode("{}"), {})

    def test_list(self):
        self.assertEqual(decode("[1]"), [1])⟧
""",
    """from unittest import TestCase


⟦class TestDecode(TestCase):
    def test_empty(self):
        self.assertEqual(decode("{}"), {})

    def test_list(self):
        self.assertEqual(decode("[1]"), [1])

    def test_bounds(self):
        self.assertRaises(ValueError, decode, "[1")⟧
""",
    must_be_right=True,
)

# --- a block wrapped in a new loop: the block, not the loop header -----------------------------

WRAPPED_FOR_PY = Hand(
    "wrapped-for-python",
    "python",
    """def platform_tags(archs):
    sys_musl = musl_version()
    if sys_musl is None:
        return
    ⟦for minor in range(sys_musl.minor, -1, -1):
        yield f"musllinux_{sys_musl.major}_{minor}_{archs[0]}"⟧


def main():
    print(list(platform_tags(["x86_64"])))
""",
    """def platform_tags(archs):
    sys_musl = musl_version()
    if sys_musl is None:
        return
    for arch in archs:
        ⟦for minor in range(sys_musl.minor, -1, -1):
            yield f"musllinux_{sys_musl.major}_{minor}_{archs[0]}"⟧


def main():
    print(list(platform_tags(["x86_64"])))
""",
)

# --- code that changed shape: a switch case became an if branch --------------------------------

CASE_TO_IF_C = Hand(
    "case-to-if-c",
    "c",
    """int get_info(int kind)
{
    switch (kind) {
        ⟦case INET:
            if (get_sockets("net.inet.tcp.pcblist") != 0)
                return -1;
            if (get_sockets("net.inet.udp.pcblist") != 0)
                return -1;
            break;⟧
        case UNIX:
            if (get_sockets("net.local.stream.pcblist") != 0)
                return -1;
            break;
    }
    return 0;
}
""",
    """int get_info(const char *kind)
{
    ⟦if (strcmp(kind, "inet") == 0) {
        if (get_sockets("net.inet.tcp.pcblist") != 0)
            return -1;
        if (get_sockets("net.inet.udp.pcblist") != 0)
            return -1;
    }⟧
    else if (strcmp(kind, "unix") == 0) {
        if (get_sockets("net.local.stream.pcblist") != 0)
            return -1;
    }
    return 0;
}
""",
    must_place=False,
)

CASES = [
    SPLIT_PY,
    SPLIT_TS,
    SPLIT_GO,
    TWIN_GO,
    TWIN_C,
    TWIN_JAVA,
    RETRY_PY,
    RETRY_TS,
    RETRY_PY_LONG,
    CLASS_PY,
    CLASS_JAVA,
    CONST_PY,
    CONST_C,
    CONST_RUST,
    JSX,
    JSX_SHORT,
    CLASS_REWRITTEN_PY,
    CLASS_REWRITTEN_RUST,
    CONST_TS,
    RENAMED_ID_CPP,
    SPLIT_C,
    DECORATED_PY,
    REDECORATED_PY,
    GROWN_CLASS_PY,
    WRAPPED_FOR_PY,
    CASE_TO_IF_C,
]


@pytest.mark.parametrize("hand", CASES, ids=[c.name for c in CASES])
def test_never_confidently_wrong(hand: Hand) -> None:
    old, s, e = _cut(hand.old)
    new, es, ee = _cut(hand.new)
    placement = reanchor(old, new, [(s, e)], language=hand.language)[0]
    got = new[placement.start : placement.end] if placement.start is not None else None
    right = (
        got is not None
        and placement.start is not None
        and placement.end is not None
        and _squash(got) == _squash(new[es:ee])
        and placement.start < ee
        and es < placement.end
    )
    detail = f"{placement.status} {placement.confidence} {placement.method} {got!r}"
    if placement.status in CONFIDENT:
        assert right, f"confidently wrong: {detail}"
    if hand.must_place:
        assert placement.placed, f"orphaned although its code is still there: {detail}"
    if hand.must_be_right:
        assert right and placement.status in CONFIDENT, detail
