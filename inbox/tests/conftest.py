import pytest
from imap_tools import MailBoxUnencrypted

from inbox import testing
from returns.tests.factories import ROLES, staff_user

SUPPORT = "support@brand.example"


@pytest.fixture(scope="session")
def imap_server():
    """One private Dovecot for the session (scripts/test.sh installs dovecot-imapd)."""
    with testing.dovecot() as server:
        yield server


@pytest.fixture
def mailbox(imap_server, settings):
    """The support mailbox, empty, and the settings that read it; yields a logged-in imap-tools client."""
    settings.INBOUND_IMAP_URL = testing.imap_url(imap_server)
    settings.INBOUND_IMAP_SECURITY = "none"
    settings.INBOUND_PROCESSED_FOLDER = "Processed"
    settings.INBOUND_REPLY_ADDRESS = SUPPORT
    settings.RMA_SUPPORT_EMAIL = SUPPORT
    settings.EMAIL_MESSAGE_ID_DOMAIN = "brand.example"
    with MailBoxUnencrypted(imap_server["host"], imap_server["port"]).login(
        imap_server["user"], imap_server["password"]
    ) as box:
        for folder in box.folder.list():
            if folder.name != "INBOX":
                box.folder.delete(folder.name)
        box.folder.set("INBOX")
        box.delete(box.uids())
        yield box


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


def processed(box) -> list:
    """The messages in the processed folder (the original of each stored message)."""
    box.folder.set("Processed")
    uids = box.uids()
    box.folder.set("INBOX")
    return uids


def waiting(box) -> list:
    """The messages still in INBOX (NOOP first: this session sees the reader's expunges only after one)."""
    box.client.noop()
    return box.uids()
