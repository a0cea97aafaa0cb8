"""Load test: 50 staff sessions in the four roles against a production-like stack this script starts itself.

    .venv/bin/python benchmarks/load.py                      # 100,000 claims, 50 users, 5 minutes
    .venv/bin/python benchmarks/load.py --minutes 2 --users 20 --web-workers 3
    .venv/bin/python benchmarks/load.py --conn-max-age 0     # a new PostgreSQL connection per request

On loopback only: PostgreSQL and Redis on 127.0.0.1 (started as scripts/test.sh does when they are down),
a bench database (name containing ``bench``) seeded by ``manage.py seed_volume`` up to ``--claims``, static
files collected with hashed names, gunicorn started with deploy/gunicorn.conf.py and production settings
(DEBUG off, WhiteNoise, Redis cache and broker; no TLS on loopback, files on disk, emails to the worker's
console), and one real Celery worker. Staff log in once each before timing starts (sessions written
through Django's session store: logins are not what is measured).

Phases, both in this run:
1. **Single user**: each role's pages requested one after the other by one session, ``--single-rounds``
   times, nothing else running: the reference.
2. **Load**: ``--users`` Locust users (customer service 40 %, warehouse 24 %, finance 16 %, managers 20 %)
   each doing their real work with 1-3 s of think time, for ``--minutes``.

Printed: requests/s, errors, and per page p50/p95/p99 under load beside the single-user p50 and the ratio
p95 (load) / p50 (single). The goal is 0 errors and p95 within 3x single-user. docs/operations.md holds
the figures and what was changed to meet them.
"""

# Locust patches the standard library with gevent's cooperative versions: first, before anything opens a socket.
from locust import HttpUser, between  # isort: skip
from locust.clients import HttpSession  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import collections
import json
import os
import random
import re
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import gevent

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent
RUN_DIR = ROOT / "var" / "load"

ROLES = {  # role: (group, share of the users)
    "cs": ("Customer service", 0.40),
    "warehouse": ("Warehouse", 0.24),
    "finance": ("Finance", 0.16),
    "manager": ("Manager", 0.20),
}
# Fewer proposed refunds than this left by earlier runs: the database is seeded again (prepare_database).
MIN_PROPOSED_REFUNDS = 200
LOGIN_FORM = re.compile(rb'name="password"')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/rma_bench_load")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5", help="broker and cache (one db)")
    parser.add_argument("--claims", type=int, default=100_000, help="seed up to this many claims")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0, help="load phase length")
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started per second")
    parser.add_argument("--single-rounds", type=int, default=8, help="single-user passes over each role's pages")
    parser.add_argument("--web-workers", type=int, default=None, help="gunicorn processes (default: its config)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per process")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DATABASE_CONN_MAX_AGE (production: 60; 0 = a connection a request)",
    )
    return parser.parse_args()


# --- the stack ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_services() -> None:
    """PostgreSQL and Redis on loopback, started as scripts/test.sh does when they are down."""
    if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
    if subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode != 0:
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", ""], check=True
        )
    for _ in range(30):
        pg = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0
        rd = subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode == 0
        if pg and rd:
            return
        time.sleep(1)
    raise SystemExit("PostgreSQL or Redis did not start on 127.0.0.1")


def stack_env(args, port: int) -> dict[str, str]:
    """Production's settings (deploy/production.env.example) where they apply on one machine's loopback."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_MANIFEST": "true",
        "DJANGO_STATIC_ROOT": str(RUN_DIR / "static"),
        "MEDIA_ROOT": str(RUN_DIR / "media"),
        "DATABASE_URL": args.database,
        "DATABASE_CONN_MAX_AGE": str(args.conn_max_age),
        "CELERY_BROKER_URL": args.redis,
        "CACHE_URL": args.redis,
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_THREADS": str(args.threads),
        **({"WEB_CONCURRENCY": str(args.web_workers)} if args.web_workers else {}),
    }


def run(command: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, check=True, **kwargs)


def prepare_database(args, env: dict) -> None:
    """Seed up to --claims (seed_volume adds, so only the missing ones), then migrate.

    Finance's approvals use up the seeded proposed refunds (about 140 in a 5-minute run) and nothing
    proposes new ones: with fewer than ``MIN_PROPOSED_REFUNDS`` left the data is seeded again from empty
    (``seed_volume --truncate``, about 20 s), so that every run has approvals to measure."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import OperationalError, connection

    have = proposed = 0
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('returns_claim') IS NOT NULL")
            if cursor.fetchone()[0]:
                cursor.execute("SELECT count(*) FROM returns_claim")
                have = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM refunds_refund WHERE status = 'proposed'")
                proposed = cursor.fetchone()[0]
    except OperationalError:
        pass  # no database yet: seed_volume creates it (and refuses a name without "bench")
    connection.close()
    seed = [sys.executable, "manage.py", "seed_volume"]
    if have and proposed < MIN_PROPOSED_REFUNDS:
        print(
            f"seeding {args.claims:,} claims from empty: earlier runs' approvals left {proposed} proposed refunds",
            flush=True,
        )
        run([*seed, "--truncate", "--claims", str(args.claims)], env)
    elif have < args.claims:
        print(f"seeding {args.claims - have:,} claims (the database has {have:,})", flush=True)
        run([*seed, "--claims", str(args.claims - have)], env)
    call_command("migrate", interactive=False, verbosity=0)


def start_stack(env: dict) -> list[subprocess.Popen]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    processes = []
    web_log = (RUN_DIR / "gunicorn.log").open("w")
    processes.append(
        subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "backoffice.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
        )
    )
    worker_log = (RUN_DIR / "worker.log").open("w")
    processes.append(
        subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "backoffice", "worker", "--pool=solo", "-l", "info", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
    )
    deadline = time.monotonic() + 60
    while "Booting worker" not in (RUN_DIR / "gunicorn.log").read_text():
        if time.monotonic() > deadline or processes[0].poll() is not None:
            raise SystemExit("gunicorn did not start: see var/load/gunicorn.log")
        time.sleep(0.2)
    time.sleep(1)
    return processes


def stop_stack(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- who works on what ---------------------------------------------------------------------------------


def staff_sessions(count: int) -> dict[str, list[str]]:
    """``count`` sessions split over the roles, each for its own user (load-<role>-<n>), made through the session
    store as a login would make them."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.models import Group
    from django.utils.module_loading import import_string

    from accounts.testing import mark_verified

    store = import_string(settings.SESSION_ENGINE + ".SessionStore")
    per_role = {role: max(1, round(count * share)) for role, (_, share) in ROLES.items()}
    per_role["cs"] += count - sum(per_role.values())
    sessions = {}
    for role, n in per_role.items():
        group = Group.objects.get(name=ROLES[role][0])
        sessions[role] = []
        for i in range(1, n + 1):
            user, created = get_user_model().objects.get_or_create(
                username=f"load-{role}-{i}", defaults={"is_staff": True, "email": f"load-{role}-{i}@staff.example.com"}
            )
            if created:
                user.set_unusable_password()
                user.save()
                user.groups.add(group)
            session = store()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            mark_verified(session, user)  # as after a login with a code (finance and managers need one)
            session.create()
            sessions[role].append(session.session_key)
    return sessions


class Work:
    """What the pages are about, read once: claims to search for and open, claims and refunds to act on.

    Each act takes its target off a shared pool, so no two users act on the same row."""

    def __init__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, rma_number, order_number, customer_email FROM returns_claim "
                "WHERE rma_number IS NOT NULL ORDER BY random() LIMIT 2000"
            )
            self.claims = cursor.fetchall()
            cursor.execute("SELECT id FROM returns_claim WHERE status = 'requested' ORDER BY random()")
            self.requested = collections.deque(row[0] for row in cursor.fetchall())
            cursor.execute("SELECT id FROM returns_claim WHERE status = 'awaiting_customer' ORDER BY random()")
            self.awaiting = collections.deque(row[0] for row in cursor.fetchall())
            cursor.execute("SELECT id FROM refunds_refund WHERE status = 'proposed' ORDER BY random()")
            self.proposed_refunds = collections.deque(row[0] for row in cursor.fetchall())
            cursor.execute("SELECT id FROM refunds_refund ORDER BY random() LIMIT 2000")
            self.refunds = [row[0] for row in cursor.fetchall()]
        connection.close()

    def claim(self):
        return random.choice(self.claims)


WORK: Work | None = None


def get(client, name: str, path: str, *, expect=(200,)):
    """A page as a browser gets it; a status other than ``expect`` or the login form is an error."""
    PAGE_OF[path] = name
    with client.get(path, name=name, catch_response=True, allow_redirects=False) as response:
        if response.status_code not in expect:
            response.failure(f"HTTP {response.status_code}")
        elif response.status_code == 200 and LOGIN_FORM.search(response.content or b""):
            response.failure("sent to the login page")
        else:
            response.success()


def post(client, name: str, path: str, data: dict):
    """A button: the service runs and the admin redirects back to the row (302); anything else is an error."""
    PAGE_OF[path] = name
    token = client.cookies.get("csrftoken")
    with client.post(
        path,
        data={**data, "csrfmiddlewaretoken": token},
        headers={"X-CSRFToken": token, "Referer": client.base_url + path},
        name=name,
        catch_response=True,
        allow_redirects=False,
    ) as response:
        if response.status_code != 302:
            response.failure(f"HTTP {response.status_code}")
        else:
            response.success()


# Each page: (name, function(client)). A role's work is a weighted list of them.
def claim_list_requested(c):
    get(c, "claim list (requested)", "/admin/returns/claim/?status__exact=requested")


def claim_list(c):
    get(c, "claim list", "/admin/returns/claim/")


def claim_search(c):
    _, rma, order, email = WORK.claim()
    get(c, "claim search", "/admin/returns/claim/?" + random.choice([f"q={rma}", f"q={order}", f"q={email}"]))


def claim_page(c):
    get(c, "claim page", f"/admin/returns/claim/{WORK.claim()[0]}/change/")


def claim_ask_for_photo(c):
    """The seeded requested claims lack the whole-package photo the policy needs before approval: ask for it."""
    if WORK.requested:
        claim_id = WORK.requested.popleft()
        message = "Please send a photo of the whole package, as it arrived."
        post(
            c, "ask for information", f"/admin/returns/claim/{claim_id}/act/ask_for_information/", {"message": message}
        )
        get(c, "claim page", f"/admin/returns/claim/{claim_id}/change/")
        WORK.awaiting.append(claim_id)


def claim_record_answer(c):
    """The customer's emailed answer, typed in: the claim is back in the queue (and asked again later)."""
    if WORK.awaiting:
        claim_id = WORK.awaiting.popleft()
        answer = "Photo attached to my email."
        post(c, "record answer", f"/admin/returns/claim/{claim_id}/act/record_customer_answer/", {"answer": answer})
        WORK.requested.append(claim_id)


def inspection_queue(c):
    get(c, "inspection queue", "/admin/inspections/inspection/queue/")


def receive_page(c):
    get(c, "receive parcel page", "/admin/shipments/returnparcel/receive/")


def refund_queue(c):
    get(c, "refund queue", "/admin/refunds/refund/")


def refund_page(c):
    get(c, "refund page", f"/admin/refunds/refund/{random.choice(WORK.refunds)}/change/")


def refund_approve(c):
    if WORK.proposed_refunds:
        refund_id = WORK.proposed_refunds.popleft()
        post(c, "approve refund", f"/admin/refunds/refund/{refund_id}/act/approve/", {})
        get(c, "refund page", f"/admin/refunds/refund/{refund_id}/change/")


def dashboard(c):
    get(c, "dashboard", "/admin/dashboard/")


def sla_report(c):
    get(c, "SLA report", "/admin/sla/")


def export_csv(c):
    get(c, "export CSV (1,246 rows)", "/admin/returns/claim/export/csv/?status__exact=shipped")


WORKLOAD = {
    "cs": [
        (claim_list_requested, 3),
        (claim_search, 3),
        (claim_page, 4),
        (claim_ask_for_photo, 1),
        (claim_record_answer, 1),
    ],
    "warehouse": [(inspection_queue, 3), (receive_page, 2), (claim_search, 2), (claim_page, 3)],
    "finance": [(refund_queue, 3), (refund_page, 3), (refund_approve, 1), (claim_page, 1)],
    "manager": [(dashboard, 2), (sla_report, 1), (claim_list, 2), (export_csv, 1), (claim_page, 1)],
}
SESSIONS: dict[str, list[str]] = {}
# Each path requested (query string included) and its page's name: gunicorn's access log is read back by it.
PAGE_OF: dict[str, str] = {}


def role_user(role: str, users: int) -> type[HttpUser]:
    class Staff(HttpUser):
        fixed_count = users
        wait_time = between(1, 3)
        tasks = {(lambda self, page=page: page(self.client)): weight for page, weight in WORKLOAD[role]}

        def on_start(self):
            enter(self.client, SESSIONS[role].pop())

    Staff.__name__ = f"Staff_{role}"
    return Staff


def enter(client, session_key: str) -> None:
    # As the server would set them (host-only on 127.0.0.1), so that its own Set-Cookie replaces, not doubles, them.
    client.cookies.set("sessionid", session_key, domain="127.0.0.1", path="/")
    client.cookies.set("csrftoken", secrets.token_hex(16), domain="127.0.0.1", path="/")


# --- measuring ---------------------------------------------------------------------------------------


class Recorder:
    """Every request's time and outcome, by page (Locust's own percentiles are bucketed)."""

    def __init__(self):
        self.times = collections.defaultdict(list)
        self.errors = collections.Counter()
        self.messages = collections.Counter()

    def __call__(self, name, response_time, exception, **kwargs):
        self.times[name].append(response_time)
        if exception:
            self.errors[name] += 1
            self.messages[f"{name}: {exception}"] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def single_user(base_url: str, rounds: int) -> Recorder:
    recorder = Recorder()
    env = Environment()
    env.events.request.add_listener(recorder)
    for role, pages in WORKLOAD.items():
        client = HttpSession(base_url=base_url, request_event=env.events.request, user=None)
        enter(client, SESSIONS[role].pop())
        for _ in range(rounds):
            for page, _weight in pages:
                page(client)
    return recorder


def load(base_url: str, args) -> tuple[Recorder, float]:
    recorder = Recorder()
    per_role = {role: len(keys) for role, keys in SESSIONS.items()}
    env = Environment(user_classes=[role_user(role, n) for role, n in per_role.items()], host=base_url)
    env.events.request.add_listener(recorder)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(sum(per_role.values()), spawn_rate=args.spawn_rate)
    gevent.spawn_later(args.minutes * 60, runner.quit)
    runner.greenlet.join()
    return recorder, time.monotonic() - started


ACCESS_LINE = re.compile(r'"(?:GET|POST) (\S+) HTTP/[\d.]+" \d+ \S+ (\d+)ms')


def server_times(log_path: Path, since: str) -> dict[str, list[int]]:
    """Each page's time inside a gunicorn process (its access log's ``%(M)s``), for requests logged since
    ``since`` (ISO 8601, UTC). What Locust measures beyond it is the wait for a free process (the listen
    queue) and the loopback."""
    times = collections.defaultdict(list)
    with log_path.open() as log:
        for line in log:
            if '"gunicorn.access"' not in line:
                continue
            record = json.loads(line)
            found = ACCESS_LINE.search(record["message"])
            if found and record["time"] >= since and (name := PAGE_OF.get(found[1])):
                times[name].append(int(found[2]))
    return times


def report(single: Recorder, loaded: Recorder, seconds: float, server: dict[str, list[int]]) -> None:
    total = sum(len(v) for v in loaded.times.values())
    errors = sum(loaded.errors.values())
    print()
    print(f"load: {total:,} requests in {seconds:.0f} s = {total / seconds:.1f} requests/s; errors {errors}")
    print()
    header = (
        f"{'page':<26} {'n':>6} {'err':>4} {'p50':>7} {'p95':>7} {'p99':>7}   {'single p50':>10} {'p95/single':>10}"
        f"   {'in gunicorn p50':>15} {'p95':>5}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name in sorted(loaded.times):
        times = loaded.times[name]
        alone = single.times.get(name)
        base = statistics.median(alone) if alone else None
        ratio = percentile(times, 0.95) / base if base else None
        worst = max(worst, ratio or 0)
        print(
            f"{name:<26} {len(times):>6} {loaded.errors[name]:>4} {percentile(times, 0.50):>7.0f} "
            f"{percentile(times, 0.95):>7.0f} {percentile(times, 0.99):>7.0f}   "
            f"{base if base is None else f'{base:.0f}':>10} {'' if ratio is None else f'{ratio:.1f}x':>10}"
            + (
                f"   {percentile(inside, 0.50):>15} {percentile(inside, 0.95):>5}"
                if (inside := server.get(name))
                else ""
            )
        )
    print(f"(times in ms; the worst p95/single ratio is {worst:.1f}x; the goal: 0 errors, at most 3x)")
    print("(in gunicorn: the same requests' time inside a web process, from its access log; the rest is the wait")
    print(" for a free process in the listen queue, and the loopback)")
    for message, n in loaded.messages.most_common(10):
        print(f"  error x{n}: {message}")


def state_changes() -> str:
    """What the staff's buttons did, read back from the database: their events and approvals."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.action, count(*) FROM returns_claimevent e JOIN auth_user u ON u.id = e.actor_id "
            "WHERE u.username LIKE 'load-%' AND e.created_at > now() - interval '1 hour' GROUP BY 1 ORDER BY 1"
        )
        claims = ", ".join(f"{action} {n}" for action, n in cursor.fetchall()) or "none"
        cursor.execute(
            "SELECT count(*) FROM refunds_refund r JOIN auth_user u ON u.id = r.approved_by_id "
            "WHERE u.username LIKE 'load-%' AND r.approved_at > now() - interval '1 hour'"
        )
        (refunds,) = cursor.fetchone()
    connection.close()
    return f"\nrecorded in the last hour by the load's staff: claim events: {claims}; refunds approved: {refunds}"


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User + system CPU time of the stack's processes and their children (gunicorn's workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    pending, total, seen = [p.pid for p in processes], 0.0, set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task_dir in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task_dir / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on the machine (other databases' too: read it as an upper bound).

    With their children's: a backend that exits (a connection older than DATABASE_CONN_MAX_AGE is replaced)
    leaves its CPU time in the postmaster's cutime/cstime, which a sum over live processes alone would lose."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name.startswith("postgres"):
            fields = rest.split()
            total += sum(int(field) for field in fields[11:15]) / ticks  # utime, stime, cutime, cstime
    return total


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} (1 min) {five:.2f} (5 min)"


def main() -> None:
    global WORK
    args = parse_args()
    ensure_services()
    port = free_port()
    env = stack_env(args, port)
    os.environ.update(env)
    prepare_database(args, env)
    print("load", flush=True)
    print(f"  command   {' '.join(shlex.quote(part) for part in [sys.executable, *sys.argv])}")
    print(f"  machine   {machine_load()} at the start")
    WORK = Work()
    print(
        f"  data      {args.claims:,} claims; to act on: {len(WORK.requested):,} requested and {len(WORK.awaiting):,} "
        f"awaiting claims, {len(WORK.proposed_refunds):,} proposed refunds"
    )
    SESSIONS.update(staff_sessions(len(ROLES)))  # one per role: the single-user phase
    processes = start_stack(env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        print(
            f"  stack     gunicorn on {base_url} ({env.get('WEB_CONCURRENCY', 'default')} processes, "
            f"{args.threads} thread(s) each), a worker; DATABASE_CONN_MAX_AGE {args.conn_max_age}"
        )
        started = time.monotonic()
        single = single_user(base_url, args.single_rounds)
        print(
            f"  single    {sum(len(v) for v in single.times.values())} requests in {time.monotonic() - started:.0f} s"
        )
        SESSIONS.update(staff_sessions(args.users))
        print(f"  load      {args.users} users for {args.minutes:g} min; {machine_load()} before", flush=True)
        cpu_before, pg_before, own_before = cpu_seconds(processes), postgres_cpu_seconds(), time.process_time()
        load_started = datetime.now(UTC).isoformat()
        loaded, seconds = load(base_url, args)
        cpu, pg = cpu_seconds(processes) - cpu_before, postgres_cpu_seconds() - pg_before
        own = time.process_time() - own_before
        requests = sum(len(v) for v in loaded.times.values())
        print(f"  after     {machine_load()}")
        print(
            f"  CPU       gunicorn + worker {cpu:.0f} s = {cpu / seconds:.2f} of {os.cpu_count()} CPUs, "
            f"{cpu / max(requests, 1) * 1000:.0f} ms a request; all PostgreSQL processes {pg / seconds:.2f} CPUs; "
            f"the load generator (Locust, this process) {own / seconds:.2f} CPUs"
        )
        report(single, loaded, seconds, server_times(RUN_DIR / "gunicorn.log", load_started))
        print(state_changes())
    finally:
        stop_stack(processes)


if __name__ == "__main__":
    main()
