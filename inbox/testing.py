"""A private Dovecot for the tests and the benchmark (shared/notes/imap-in-tests.md), and the emails they
put into it: real-world shapes built with Python's ``email`` package. Imported by tests and benchmarks only.
"""

import grp
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from string import Template

from django.utils import timezone

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "support", "test-password"

CONF = Template("""\
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
imap_capability = +MOVE
default_login_user = $user
default_internal_user = $user
default_internal_group = $group
passdb {
  driver = passwd-file
  args = scheme=PLAIN $d/users
}
userdb {
  driver = static
  args = uid=$user gid=$group home=$d/mail/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  chroot =
  inet_listener imap {
    port = $port
  }
}
service anvil {
  chroot =
}
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dovecot():
    """Start a Dovecot of our own (its own port, base and state directories) with one user; yield its
    address; stop it and remove its directory. As root its processes run as nobody."""
    directory = tempfile.mkdtemp(prefix="dovecot-test-")
    port = free_port()
    if os.geteuid() == 0:
        user, group = "nobody", "nogroup"
        os.chmod(directory, 0o755)
        os.mkdir(f"{directory}/mail")
        shutil.chown(f"{directory}/mail", user, group)
    else:
        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    Path(directory, "users").write_text(f"{USER}:{PASSWORD}\n")
    Path(directory, "dovecot.conf").write_text(CONF.substitute(d=directory, port=port, user=user, group=group))
    process = subprocess.Popen([DOVECOT, "-F", "-c", f"{directory}/dovecot.conf"])
    try:
        deadline = time.monotonic() + 10
        while True:  # the "* OK" greeting
            if process.poll() is not None or time.monotonic() > deadline:
                log = Path(directory, "dovecot.log")
                raise RuntimeError(f"dovecot did not start: {log.read_text() if log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        break
            except OSError:
                time.sleep(0.05)
        yield {"host": "127.0.0.1", "port": port, "user": USER, "password": PASSWORD, "pid": process.pid}
    finally:
        process.terminate()  # the master stops its children
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def imap_url(server: dict, folder: str = "INBOX") -> str:
    return f"imap://{server['user']}:{server['password']}@{server['host']}:{server['port']}/{folder}"


# --- Emails of the shapes customers send ------------------------------------------------------


def jpeg(width=640, height=480, color="peru", gps=False) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (width, height), color)
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (22.0, 32.0, 0.0), 3: "E", 4: (114.0, 3.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _base(sender, to, subject, *, message_id=None, date=None, in_reply_to=None, references=None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or timezone.now())
    message["Message-ID"] = message_id or make_msgid(domain="mail.example.com")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references or in_reply_to
    return message


def iphone_photo_email(sender, to, subject, text, *, photo=None, name="IMG_4521.JPG", **headers) -> bytes:
    """Apple Mail on an iPhone: text, the photo inline (its own Content-ID), "Sent from my iPhone"."""
    message = _base(sender, to, subject, **headers)
    message["X-Mailer"] = "iPhone Mail (21E236)"
    message.set_content(f"{text}\n\nSent from my iPhone\n")
    message.add_attachment(
        photo or jpeg(gps=True), maintype="image", subtype="jpeg", filename=name, disposition="inline", cid=make_msgid()
    )
    return bytes(message)


def outlook_reply(sender, to, subject, text, *, quoted_from, quoted_text, **headers) -> bytes:
    """Outlook's HTML reply quoting the thread below a rule, with a plain alternative, and a logo inline."""
    message = _base(sender, to, subject, **headers)
    message["X-Mailer"] = "Microsoft Outlook 16.0"
    plain = (
        f"{text}\n\n________________________________\nFrom: {quoted_from}\nSent: Monday, 2 March 2026 10:00\n"
        f"To: {sender}\nSubject: {subject}\n\n{quoted_text}\n"
    )
    html = (
        f"<html><head><style>p {{margin:0}}</style></head><body><p>{text}</p>"
        '<div id="divRplyFwdMsg"><hr><b>From:</b> '
        f"{quoted_from}<br><b>Sent:</b> Monday, 2 March 2026 10:00<br><b>Subject:</b> {subject}</div>"
        f"<div>{quoted_text}</div></body></html>"
    )
    message.set_content(plain)
    message.add_alternative(html, subtype="html")
    return bytes(message)


def forwarded_email(sender, to, subject, text, inner: bytes, **headers) -> bytes:
    """A message forwarded as an attachment (message/rfc822), e.g. the shop's order confirmation."""
    from email import message_from_bytes, policy

    message = _base(sender, to, subject, **headers)
    message.set_content(text)
    message.add_attachment(message_from_bytes(inner, policy=policy.default))
    return bytes(message)


def out_of_office(sender, to, subject="Automatic reply: About your after-sales request", **headers) -> bytes:
    message = _base(sender, to, subject, **headers)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Autoreply"] = "yes"
    message.set_content("I am out of the office until Monday and will read your email then.")
    return bytes(message)


def plain_email(sender, to, subject, text, **headers) -> bytes:
    message = _base(sender, to, subject, **headers)
    message.set_content(text)
    return bytes(message)
