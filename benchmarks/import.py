"""Import benchmark: a year of a store's orders loaded through the importer, beside PostgreSQL's own COPY of the
same rows into the same tables.

It writes N order lines (default 1,000,000: about 400,000 orders of 1 to 5 lines; some cancelled, refunded or
partly refunded; notes with commas, quotes, line breaks and leading "="; names with diacritics and
apostrophes) in both layouts the importer reads (the project's own, and Shopify's 79-column order export), then
for each layout, each run in its own subprocess (so each has its own peak memory, ``ru_maxrss``):

- **first load**: the tables emptied (``TRUNCATE … RESTART IDENTITY CASCADE``), then
  ``stores.importing.order_rows_import(read_order_csv(file))``, as ``manage.py import_orders`` runs it;
- **unchanged**: the same file again, on the loaded tables (nothing to write);
- **COPY**: the rows the import stored (products, orders, order lines), dumped with ``COPY … TO`` (not timed),
  the tables emptied again, and the same rows written back with ``COPY … FROM STDIN`` into the same tables
  (their indexes, constraints and deferred foreign keys) in one transaction, commit included: the floor.

It prints lines per second, seconds, the ratio to COPY and the peak memory of each run, and the machine's load.
Goals: first load within 10× of COPY, an unchanged re-import within 5×, peak memory under 250 MB.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench_import .venv/bin/python benchmarks/import.py

On SQLite (``DATABASE_URL=sqlite:///var/bench-import.sqlite3``) there is no COPY to compare with: it prints the
importer's figures alone (use ``--lines 50000``).
"""

import argparse
import csv
import json
import os
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _common import command_line

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

TABLES = ("returns_product", "returns_order", "returns_orderline")
GOALS = {"first": 10.0, "unchanged": 5.0}
PEAK_GOAL_MB = 250


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="order lines to generate (default 1,000,000)")
    parser.add_argument("--formats", default="own,shopify", help="layouts to measure: own, shopify or both")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workdir", help="where the generated files go (default: a temporary folder, removed)")
    parser.add_argument("--force", action="store_true", help="run on a PostgreSQL database whose name lacks 'bench'")
    parser.add_argument("--child", choices=("import", "copy"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--dumps", help=argparse.SUPPRESS)
    return parser.parse_args()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# --- The data ----------------------------------------------------------------------------------------------

SHOPIFY_HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Tax 2 Name",
    "Tax 2 Value",
    "Tax 3 Name",
    "Tax 3 Value",
    "Tax 4 Name",
    "Tax 4 Value",
    "Tax 5 Name",
    "Tax 5 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
]
OWN_HEADER = ["order_number", "customer_email", "customer_name", "received_on", "sku", "product_name", "electronic",
              "quantity", "unit_price", "currency", "serial_numbers", "payment_reference"]  # fmt: skip
FIRST = ["Zoé", "Björn", "Siobhán", "Łukasz", "Ana", "Noah", "Mia", "José", "Chloë", "Jürgen", "Renée", "Håkon",
         "Ítalo", "Dāvis", "Kim", "Amélie", "Søren", "Nuño", "Élodie", "Ciarán"]  # fmt: skip
LAST = ["Müller", "O'Brien", "Wiśniewski", "Silva", "Lefèvre", "Núñez", "D'Angelo", "Øvergård", "Smith", "Brown",
        "Kowalski", "Åström", "Dvořák", "Ó Súilleabháin", "García-López", "Nguyễn"]  # fmt: skip
NOTES = [
    'Leave it with the concierge, please: "Bâtiment B", 2nd floor',
    "Gift wrap, no invoice in the parcel",
    "Call before delivery, the bell doesn't work",
    '=HYPERLINK("http://example.com","click")',
    "Two parcels are fine,\nbut not on Saturday",
    "+33 6 12 34 56 78 (ring twice)",
    "@reception: sign for it",
]
FAMILIES = [("CAGE", "Camera cage for {}", False), ("LED", "LED video light {}", True), ("VMOUNT", "V-mount battery {}", True),
            ("ARM", 'Magic arm, {}"', False), ("HANDLE", "Top handle {}", False), ("MONITOR", "Field monitor {}", True),
            ("PLATE", "Quick-release plate {}", False), ("CHARGER", "Dual charger {}", True)]  # fmt: skip
CURRENCIES = [("USD", 1, 2), ("EUR", 1, 2), ("GBP", 1, 2), ("JPY", 150, 0), ("PLN", 4, 2)]
CURRENCY_WEIGHTS = [50, 30, 10, 5, 5]


def catalogue(rng: random.Random, size: int = 2000) -> list[tuple[str, str, bool, Decimal]]:
    products = []
    for n in range(size):
        family, name, electronic = FAMILIES[n % len(FAMILIES)]
        model = f"{rng.choice(['A7 IV', 'FX3', 'R5', 'GH6', 'Z6 II', 'X-T5', 'BMPCC 6K'])} rev. {n // len(FAMILIES)}"
        products.append(
            (f"SR-{family}-{n:04d}", name.format(model), electronic, Decimal(rng.randrange(990, 39900)) / 100)
        )
    return products


def generate(path_own: Path, path_shopify: Path, lines: int, seed: int) -> dict:
    """Both files from the same orders; returns counts."""
    rng = random.Random(seed)
    products = catalogue(rng)
    today = date.today()
    written = orders = 0
    with (
        open(path_own, "w", encoding="utf-8", newline="") as own_file,
        open(path_shopify, "w", encoding="utf-8-sig", newline="") as shopify_file,
    ):
        own = csv.writer(own_file, lineterminator="\n")
        shopify = csv.writer(shopify_file, lineterminator="\r\n")
        own.writerow(OWN_HEADER)
        shopify.writerow(SHOPIFY_HEADER)
        width = len(SHOPIFY_HEADER)
        column = {name: i for i, name in enumerate(SHOPIFY_HEADER)}
        while written < lines:
            orders += 1
            number = f"#{100000 + orders}"
            count = min(rng.choices([1, 2, 3, 4, 5], weights=[30, 25, 20, 15, 10])[0], lines - written)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}"
            email = f"{_ascii(first)}.{_ascii(last)}.{orders}@example.com"
            currency, factor, decimals = rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0]
            created = datetime.combine(today - timedelta(days=rng.randrange(12, 365)), datetime.min.time())
            created += timedelta(seconds=rng.randrange(86400))
            received = created.date() + timedelta(days=rng.randrange(2, 10)) if rng.random() < 0.75 else None
            items = rng.sample(products, count)
            priced = [(sku, pname, electronic, _price(base * factor, decimals), rng.choice([1, 1, 1, 2, 3]))
                      for sku, pname, electronic, base in items]  # fmt: skip
            subtotal = sum(price * quantity for *_, price, quantity in priced)
            fate = rng.random()
            status, cancelled, refunded = "paid", "", "0.00"
            if fate < 0.03:
                status, cancelled, refunded = "refunded", _shopify_time(created + timedelta(hours=5)), str(subtotal)
            elif fate < 0.05:
                status, refunded = "refunded", str(subtotal)
            elif fate < 0.10:
                status, refunded = "partially_refunded", str(priced[0][3])
            elif fate < 0.12:
                status = "pending"
            note = rng.choice(NOTES) if rng.random() < 0.1 else ""
            payment = "".join(rng.choices(string.ascii_letters + string.digits, k=25)) if status != "pending" else ""
            for index, (sku, pname, electronic, price, quantity) in enumerate(priced):
                serials = ""
                if electronic and rng.random() < 0.3:
                    serials = ";".join(f"{sku[-4:]}-{orders}-{unit}" for unit in range(quantity))
                own.writerow([number, email, name, received.isoformat() if received else "", sku, pname,
                              "yes" if electronic else "no", quantity, price, currency, serials, payment])  # fmt: skip
                row = [""] * width
                row[column["Name"]] = number
                for key, value in (("Lineitem quantity", quantity), ("Lineitem name", pname), ("Lineitem price", price),
                                   ("Lineitem sku", sku), ("Lineitem requires shipping", "true"),
                                   ("Lineitem taxable", "true"), ("Lineitem fulfillment status", "fulfilled"),
                                   ("Vendor", "SmallRig"), ("Lineitem discount", "0.00")):  # fmt: skip
                    row[column[key]] = value
                if index == 0:
                    for key, value in (
                        ("Email", email), ("Financial Status", status), ("Paid at", _shopify_time(created)),
                        ("Fulfillment Status", "fulfilled"), ("Fulfilled at", _shopify_time(created + timedelta(days=1))),
                        ("Accepts Marketing", "no"), ("Currency", currency), ("Subtotal", subtotal),
                        ("Shipping", "0.00"), ("Taxes", "0.00"), ("Total", subtotal), ("Discount Amount", "0.00"),
                        ("Shipping Method", "Standard"), ("Created at", _shopify_time(created)),
                        ("Billing Name", name), ("Billing Street", "12 rue de l'Église"), ("Billing City", "Lyon"),
                        ("Billing Zip", "69002"), ("Billing Country", "FR"), ("Shipping Name", name),
                        ("Shipping Street", "12 rue de l'Église"), ("Shipping City", "Lyon"), ("Shipping Zip", "69002"),
                        ("Shipping Country", "FR"), ("Notes", note), ("Cancelled at", cancelled),
                        ("Payment Method", "Shopify Payments"), ("Refunded Amount", refunded),
                        ("Outstanding Balance", "0.00"), ("Id", 5_300_000_000_000 + orders), ("Risk Level", "Low"),
                        ("Source", "web"), ("Payment ID", payment), ("Payment References", payment),
                    ):  # fmt: skip
                        row[column[key]] = value
                shopify.writerow(row)
            written += count
    return {"lines": written, "orders": orders, "products": len(products)}


def _ascii(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if c in string.ascii_lowercase)


def _price(amount: Decimal, decimals: int) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-decimals))


def _shopify_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} +0100"


# --- One run, in its own process -----------------------------------------------------------------------


def child_import(path: str, layout: str) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from stores import importing

    settings.DEBUG = False
    connection.ensure_connection()
    started_mb = peak_mb()
    started = time.perf_counter()
    report = importing.order_rows_import(importing.read_order_csv(path, format=layout))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "start_mb": started_mb, "rows": report.rows_read,
                      "lines": report.lines, "orders": report.orders, "rejected": report.rejected_rows,
                      "left_out": report.left_out_rows}))  # fmt: skip


def child_copy(dumps: str) -> None:
    import django

    django.setup()
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    raw.commit()
    started_mb = peak_mb()
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for table in TABLES:
            with open(Path(dumps) / f"{table}.copy", "rb") as data, cursor.copy(f"COPY {table} FROM STDIN") as copy:
                while block := data.read(1 << 20):
                    copy.write(block)
    raw.commit()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "start_mb": started_mb}))


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False,
                            env=os.environ)  # fmt: skip
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- The parent ----------------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if args.child == "import":
        child_import(args.file, args.format)
        return
    if args.child == "copy":
        child_copy(args.dumps)
        return
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    db = connection.settings_dict
    postgres = connection.vendor == "postgresql"
    if postgres:
        if "bench" not in db["NAME"] and not args.force:
            sys.exit(
                f"Refusing database {db['NAME']!r}: it empties the order tables. Use one whose name holds 'bench'."
            )
        _ensure_database(db)
    call_command("migrate", interactive=False, verbosity=0)
    layouts = [name.strip() for name in args.formats.split(",") if name.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-import-", dir=args.workdir) as workdir:
        files = {"own": Path(workdir) / "orders-own.csv", "shopify": Path(workdir) / "orders-shopify.csv"}
        started = time.perf_counter()
        counts = generate(files["own"], files["shopify"], args.lines, args.seed)
        generated = time.perf_counter() - started
        sizes = {name: path.stat().st_size / 1e6 for name, path in files.items()}
        results = {}
        load_before = os.getloadavg()
        for layout in layouts:
            _truncate(connection)
            first = run_child("--child", "import", "--file", str(files[layout]), "--format", layout)
            again = run_child("--child", "import", "--file", str(files[layout]), "--format", layout)
            copy = None
            if postgres:
                dumps = Path(workdir) / f"dump-{layout}"
                dumps.mkdir()
                _dump(connection, dumps)
                copy = run_child("--child", "copy", "--dumps", str(dumps))
            results[layout] = (first, again, copy)
        load_after = os.getloadavg()
        if postgres:
            _truncate(connection)
    _print(args, connection, counts, generated, sizes, results, load_before, load_after)


def _ensure_database(db: dict) -> None:
    import psycopg
    from psycopg import sql

    params = {key: str(db[name]) for key, name in (("host", "HOST"), ("port", "PORT"), ("user", "USER"),
                                                   ("password", "PASSWORD")) if db.get(name)}  # fmt: skip
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def _truncate(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        else:
            for table in (
                "returns_orderevent",
                "returns_claimevent",
                "returns_claimitem",
                "returns_claim",
                *reversed(TABLES),
            ):
                cursor.execute(f"DELETE FROM {table}")


def _dump(connection, folder: Path) -> None:
    """The rows the import stored, as COPY writes them (not timed)."""
    raw = connection.connection
    with raw.cursor() as cursor:
        for table in TABLES:
            with open(folder / f"{table}.copy", "wb") as out, cursor.copy(f"COPY {table} TO STDOUT") as copy:
                for block in copy:
                    out.write(block)
    raw.commit()


def _print(args, connection, counts, generated, sizes, results, load_before, load_after) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT version(), current_setting('synchronous_commit')")
            server, sync = cursor.fetchone()
            server = f"{server.split(' on ')[0]}, synchronous_commit={sync}"
        else:
            cursor.execute("SELECT sqlite_version()")
            server = f"SQLite {cursor.fetchone()[0]}"
    print("Import benchmark: a store's orders through stores.importing, beside COPY of the same rows")
    print(f"  command   {command_line()}")
    print(f"  server    {server}")
    print(
        f"  machine   {os.cpu_count()} CPUs; load (1, 5, 15 min) {_load(load_before)} before, {_load(load_after)} after"
    )
    print(f"  data      {counts['lines']:,} order lines, {counts['orders']:,} orders, {counts['products']:,} products; "
          f"generated in {generated:.0f} s; " + ", ".join(f"{name} {size:,.0f} MB" for name, size in sizes.items()))  # fmt: skip
    print()
    rows = [("run", "seconds", "lines/s", "× COPY", "goal", "peak MB", "outcome")]
    verdicts = []
    for layout, (first, again, copy) in results.items():
        lines = counts["lines"]
        for label, run, goal in ((f"{layout}: first load", first, GOALS["first"]),
                                 (f"{layout}: unchanged", again, GOALS["unchanged"])):  # fmt: skip
            ratio = run["seconds"] / copy["seconds"] if copy else None
            outcome = (f"lines {run['lines']['created']} created, {run['lines']['updated']} updated, "
                       f"{run['lines']['unchanged']} unchanged; rejected {run['rejected']}")  # fmt: skip
            rows.append((label, f"{run['seconds']:.1f}", f"{lines / run['seconds']:,.0f}",
                         f"{ratio:.2f}" if ratio else "–", f"≤ {goal:.0f}×" if ratio else "", f"{run['peak_mb']:.0f}",
                         outcome))  # fmt: skip
            if ratio:
                verdicts.append((label, ratio <= goal, f"{ratio:.2f}× COPY (goal {goal:.0f}×)"))
            verdicts.append(
                (label, run["peak_mb"] < PEAK_GOAL_MB, f"peak {run['peak_mb']:.0f} MB (goal < {PEAK_GOAL_MB})")
            )
        if copy:
            rows.append((f"{layout}: COPY of the same rows", f"{copy['seconds']:.1f}",
                         f"{lines / copy['seconds']:,.0f}", "1.00", "", f"{copy['peak_mb']:.0f}", ""))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(widths[i]) if i in (0, 6) else c.rjust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()
    for label, ok, words in verdicts:
        print(f"  {'OK  ' if ok else 'OVER'} {label}: {words}")
    print("  peak MB: the run's process (ru_maxrss), Django and the interpreter included; lines/s: order lines of the")
    print(
        "  file per second of the run (reading, checking and writing); COPY: the stored rows written back, no checks."
    )


def _load(values) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    main()
