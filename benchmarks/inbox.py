"""Inbox benchmark: N messages waiting in a real Dovecot, read by the beat task's service, against a bare
imap-tools fetch of the same messages in the same run. See benchmarks/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rma_bench \\
        .venv/bin/python benchmarks/inbox.py --messages 10000

A private Dovecot (inbox/testing.py, dovecot-imapd from Debian) is started for the run and removed after.
Each phase runs in a process of its own, so its peak memory (ru_maxrss) is its own:

1. reference: log in, fetch every waiting message with imap-tools (bulk fetches of --chunk), parse each
   into imap-tools' MailMessage and read its text and attachments, store nothing, move nothing;
2. service: ``inbox.services.mailbox_read()`` as the beat task runs it: fetch, parse, check attachments,
   store, match, join claims through returns' services, move to Processed.

Celery is pointed at kombu's in-memory broker (the thumbnails the evidence queues are published, never
made); files go to a temporary MEDIA_ROOT. Rows the run wrote are deleted at the end.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "BENCH-INBOX-"
CLAIMS = 50


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages waiting in the mailbox")
    parser.add_argument("--chunk", type=int, default=50, help="messages a fetch (INBOUND_FETCH_CHUNK)")
    parser.add_argument("--photo-every", type=int, default=10, help="every Kth message carries a 640×480 JPEG")
    parser.add_argument("--reply-every", type=int, default=5, help="every Rth message answers one of 50 claims")
    parser.add_argument("--auto-every", type=int, default=50, help="every Ath message is an out-of-office reply")
    parser.add_argument("--force", action="store_true", help="run on a database whose name lacks 'bench'")
    parser.add_argument("--phase", choices=("reference", "service"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def reset_peak() -> None:
    """A child inherits its parent's ru_maxrss across fork and exec: reset the kernel's high-water mark."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_kib() -> int:
    """This process's peak resident set since ``reset_peak`` (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- The phases, each in its own process ---------------------------------------------------


def phase_reference(args) -> dict:
    from imap_tools import MailBoxUnencrypted

    url = os.environ["INBOUND_IMAP_URL"]
    host, port, user, password = _imap_parts(url)
    reset_peak()
    at_start = peak_kib()
    started = time.perf_counter()
    count = size = 0
    with MailBoxUnencrypted(host, port).login(user, password) as box:
        for message in box.fetch(mark_seen=False, bulk=args.chunk):
            count += 1
            size += len(message.text) + len(message.html) + sum(len(a.payload) for a in message.attachments)
    elapsed = time.perf_counter() - started
    return {"messages": count, "seconds": elapsed, "peak_kib": peak_kib(), "start_kib": at_start, "bytes": size}


def phase_service(args) -> dict:
    import django

    django.setup()
    from inbox import services

    reset_peak()
    at_start = peak_kib()
    started = time.perf_counter()
    result = services.mailbox_read()
    elapsed = time.perf_counter() - started
    return {
        "messages": result.stored + result.already_stored,
        "stored": result.stored,
        "failed": result.failed,
        "seconds": elapsed,
        "peak_kib": peak_kib(),
        "start_kib": at_start,
    }


def _imap_parts(url: str):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname, parts.port, parts.username, parts.password


def run_phase(name: str, args, env: dict) -> dict:
    command = [sys.executable, __file__, "--phase", name, "--chunk", str(args.chunk)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"phase {name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- The run ---------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    # This file is named like the app it measures: the app, not this script, must answer "import inbox".
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    if args.phase:
        result = phase_reference(args) if args.phase == "reference" else phase_service(args)
        print(json.dumps(result))
        return

    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    media = tempfile.mkdtemp(prefix="rma-bench-inbox-media-")
    os.environ["MEDIA_ROOT"] = media
    os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)

    from _common import masked_url

    from benchmarks.intake import ensure_database
    from inbox import testing

    with testing.dovecot() as server:
        env = {
            **os.environ,
            "INBOUND_IMAP_URL": testing.imap_url(server),
            "INBOUND_IMAP_SECURITY": "none",
            "INBOUND_FETCH_CHUNK": str(args.chunk),
            "INBOUND_REPLY_ADDRESS": "support@brand.example",
            "DJANGO_DEBUG": "false",
        }
        os.environ.update(env)
        import django
        from django.conf import settings

        db = settings.DATABASES["default"]
        ensure_database(db, args.force)
        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        print(f"database: {masked_url(os.environ.get('DATABASE_URL', ''))}")
        print(f"dovecot:  {Path(testing.DOVECOT)} on 127.0.0.1:{server['port']}")

        claims = make_claims()
        raws = build_messages(args, claims)
        mb = sum(len(raw) for raw in raws) / 1024 / 1024
        appended = append_all(server, raws)
        print(f"put {len(raws)} messages ({mb:.1f} MB) in by IMAP APPEND in {appended:.1f} s")

        reference = run_phase("reference", args, env)
        service = run_phase("service", args, env)
        check_and_clean(server, len(raws), claims)

    print()
    rows = [
        ("", "messages", "seconds", "msg/s", "peak RSS MiB", "RSS at start MiB"),
        _row("reference: imap-tools fetch + parse, no store", reference),
        _row("service: mailbox_read (store, match, move)", service),
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    ratio = (reference["messages"] / reference["seconds"]) / (service["messages"] / service["seconds"])
    print(
        f"\nreference is {ratio:.1f}× faster than the service path; service stored {service['stored']}, failed {service['failed']}"
    )


def _row(label, result):
    return (
        label,
        result["messages"],
        f"{result['seconds']:.1f}",
        f"{result['messages'] / result['seconds']:.0f}",
        f"{result['peak_kib'] / 1024:.0f}",
        f"{result['start_kib'] / 1024:.0f}",
    )


def make_claims() -> list:
    from django.contrib.auth import get_user_model

    from returns import services
    from returns.models import Order, OrderLine, Product

    user, _ = get_user_model().objects.get_or_create(
        username=f"{PREFIX}agent", defaults={"is_staff": True, "is_superuser": True}
    )
    product, _ = Product.objects.get_or_create(
        sku=f"{PREFIX}SKU", defaults={"name": "Bench cage", "is_electronic": False}
    )
    claims = []
    for n in range(CLAIMS):
        order = Order.objects.create(
            number=f"{PREFIX}{time.time_ns()}-{n}", customer_email=f"bench{n}@example.com", customer_name=f"Bench {n}"
        )
        line = OrderLine.objects.create(order=order, product=product, quantity=1, unit_price=10, currency="USD")
        claim = services.claim_create(
            order=order, claim_type="no_reason", description="bench", by=user, order_line_ids=[line.pk]
        )
        if n % 2:
            claim = services.claim_ask_for_information(claim_id=claim.pk, by=user, message="The whole box, please.")
        claims.append(claim)
    return claims


def build_messages(args, claims) -> list[bytes]:
    from inbox import testing
    from returns import notifications

    photo = testing.jpeg(640, 480, gps=True)
    raws = []
    for n in range(args.messages):
        if n % args.auto_every == args.auto_every - 1:
            raws.append(testing.out_of_office(f"away{n}@example.com", "support@brand.example"))
            continue
        to = "support@brand.example"
        sender = f"customer{n}@example.com"
        if n % args.reply_every == 0:
            claim = claims[(n // args.reply_every) % len(claims)]
            to, sender = notifications.reply_address(claim), claim.customer_email
        text = f"Message {n}: the cage does not fit.\n\nOn Monday, After-sales wrote:\n> We received your request."
        if n % args.photo_every == 0:
            raws.append(testing.iphone_photo_email(sender, to, f"Photo {n}", text, photo=photo))
        else:
            raws.append(testing.plain_email(sender, to, f"Question {n}", text))
    return raws


def append_all(server, raws) -> float:
    from imap_tools import MailBoxUnencrypted

    started = time.perf_counter()
    with MailBoxUnencrypted(server["host"], server["port"]).login(server["user"], server["password"]) as box:
        for raw in raws:
            box.append(raw, "INBOX")
    return time.perf_counter() - started


def check_and_clean(server, expected: int, claims) -> None:
    from imap_tools import MailBoxUnencrypted

    from inbox.models import InboundMessage, Mailbox
    from returns.models import Claim, Order, Product

    with MailBoxUnencrypted(server["host"], server["port"]).login(server["user"], server["password"]) as box:
        left = len(box.uids())
        moved = box.folder.status("Processed")["MESSAGES"]
    stored = InboundMessage.objects.filter(mailbox__startswith="imap://").count()
    print(f"check: {stored} stored, {moved} in Processed, {left} left in INBOX (expected {expected}, {expected}, 0)")
    InboundMessage.objects.filter(mailbox__startswith="imap://").delete()
    Mailbox.objects.filter(name__startswith="imap://").delete()
    Claim.objects.filter(order__number__startswith=PREFIX).delete()
    Order.objects.filter(number__startswith=PREFIX).delete()
    Product.objects.filter(sku__startswith=PREFIX).delete()


if __name__ == "__main__":
    main()
