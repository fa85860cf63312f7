"""Benchmark: server render time and weight of each page, with the demo data.

Each page is requested in-process (Starlette's TestClient, no network) over a seeded
embedded (SQLite) database, as a logged-in subscriber where the page needs one. The
baseline, measured in the same run through the same app and middleware, is
``/healthz``: the floor every response pays before a page does any work. Printed per
page: median and p90 render time, the ratio to the baseline, and the weight of the
HTML plus the stylesheets and scripts it loads (uncompressed).

Targets (issue 4): median < 30 ms, weight < 100 KB.

    python bench/pages.py              # 60 requests per page
    python bench/pages.py --rounds 200
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's `http` package: drop this folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from simrenew.bootstrap import build  # noqa: E402
from simrenew.config import Settings  # noqa: E402
from simrenew.demo.seed import seed  # noqa: E402
from simrenew.web.app import create_app  # noqa: E402

SUBSCRIBER = "+85291234567"  # demo card with renewals and usage (demo/seed.py)
TARGET_MS = 30
TARGET_KB = 100
ASSETS = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/static/[^"]+)"')


def log_in(client: TestClient, app: object, number: str) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token
    client.post("/login", data={"csrf_token": token.group(1), "phone": number})
    app.relay.drain()  # type: ignore[attr-defined]
    body = app.inbox.list(recipient=number)[0].body  # type: ignore[attr-defined]
    code = re.search(r"(\d{6})", body)
    assert code
    done = client.post(
        "/login/code",
        data={"csrf_token": token.group(1), "phone": number, "code": code.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def pages(client: TestClient) -> list[str]:
    """The pages a subscriber and a passer-by see, with real ids from the demo data."""
    cards = client.get("/cards").text
    card_ids = sorted(set(re.findall(r'href="/cards/([A-Za-z0-9_]+)"', cards)))
    orders = client.get("/orders").text
    order_ids = re.findall(r'href="/orders/([A-Za-z0-9_]+)/receipt\.pdf"', orders)
    found = ["/", "/cards", "/orders", "/settings", "/help/expired", "/kiosk"]
    if card_ids:
        found += [f"/cards/{card_ids[0]}", f"/cards/{card_ids[0]}/renew"]
    if order_ids:
        found.append(f"/orders/{order_ids[0]}/result")
    return found


def timed(client: TestClient, path: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return times


def weight(client: TestClient, path: str) -> int:
    html = client.get(path).text
    total = len(html.encode())
    for asset in sorted(set(ASSETS.findall(html))):
        total += len(client.get(asset).content)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{Path(folder, 'bench.db')}")
        app = build(settings)
        seed(app, Console(quiet=True))
        web = create_app(app)
        anonymous = TestClient(web, base_url="https://testserver")
        client = TestClient(web, base_url="https://testserver")
        client.headers["accept"] = anonymous.headers["accept"] = "text/html"
        log_in(client, app, SUBSCRIBER)
        for warm in pages(client):
            client.get(warm)
        baseline = statistics.median(timed(client, "/healthz", args.rounds))
        table = Table(title=f"pages, {args.rounds} requests each (SQLite, demo data)")
        for column in ("page", "median ms", "p90 ms", "× /healthz", "weight KB", "targets"):
            table.add_column(column, justify="left" if column == "page" else "right")
        visits = [(path, client) for path in pages(client)]
        visits.insert(1, ("/login", anonymous))  # signed in, /login only redirects
        for path, visitor in visits:
            times = sorted(timed(visitor, path, args.rounds))
            median = statistics.median(times)
            p90 = times[(len(times) * 9) // 10]
            kb = weight(visitor, path) / 1024
            ok = median < TARGET_MS and kb < TARGET_KB
            table.add_row(
                re.sub(r"(card|ord)_[0-9a-f]+", r"{\1}", path),
                f"{median:.1f}",
                f"{p90:.1f}",
                f"{median / baseline:.1f}",
                f"{kb:.1f}",
                "met" if ok else "MISSED",
            )
        console.print(table)
        console.print(f"baseline /healthz median: {baseline:.2f} ms")
        app.close()


if __name__ == "__main__":
    main()
