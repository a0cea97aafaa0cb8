"""Real parts for the whole suite: PostgreSQL (DATABASE_URL, exported by
scripts/test.sh before pytest starts), moto's S3 server over HTTP for every
stored file, and, where a test asks for them, aiosmtpd's SMTP server, a real
Celery worker on Redis and Debian's Chromium.
"""

import os
import socket
from pathlib import Path

import boto3
import pytest
from aiosmtpd.controller import Controller
from moto.server import ThreadedMotoServer

S3_BUCKET = "rma-test"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; MD5 hashes them in microseconds, and logins work the same."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def two_factor_not_required(settings):
    """Finance and managers must verify a second factor before any page (accounts.middleware): the tests of
    other pages log in with a password alone; accounts' tests turn the requirement back on."""
    settings.TWO_FACTOR_REQUIRED = False


@pytest.fixture(scope="session")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(autouse=True)
def s3_storage(settings, s3_endpoint):
    """Every file a test stores goes to the S3 endpoint, as in production."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "backoffice.files.PrivateS3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "signature_version": "s3v4",
                "addressing_style": "path",
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }


@pytest.fixture
def s3_objects(s3_endpoint):
    """The keys stored in the test bucket, read back over HTTP."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )

    def read(key=None):
        if key is not None:
            return client.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    return read


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server on loopback; Django sends to it. Yields the received envelopes."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox.messages
    controller.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"],
    }


@pytest.fixture
def screenshot_dir(settings) -> Path:
    """Where browser tests save screenshots for a person to look at: var/screenshots/ (git-ignored)."""
    folder = Path(settings.BASE_DIR) / "var" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


SCREEN_WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def shoot(screenshot_dir):
    """shoot(page, name): the current page at desktop and phone width, whole length, into var/screenshots/."""

    def take(page, name: str) -> None:
        for width, viewport in SCREEN_WIDTHS.items():
            page.set_viewport_size(viewport)
            page.screenshot(path=str(screenshot_dir / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size(SCREEN_WIDTHS["desktop"])

    return take
