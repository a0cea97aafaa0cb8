"""Where messages come from: an IMAP folder (imap-tools), or the embedded run's folder of .eml files.

Both give the same thing to ``services.mailbox_read``: the waiting messages' keys, their bytes in
batches, and ``done()`` to move stored ones out of the way (IMAP: to the processed folder; the local folder:
to its ``processed/`` subfolder). Nothing is deleted: the original stays where it was moved.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxFetchError
from imap_tools.message import MailMessage
from imap_tools.utils import check_command_status

log = logging.getLogger(__name__)


@dataclass
class Fetched:
    key: str  # the UID (IMAP) or the file name (folder), as done() takes it back
    uid: int | None
    raw: bytes


class _RawMessage(MailMessage):
    """imap-tools' message without its parse: the bytes go to ``inbox.parsing`` as from any source."""

    def __init__(self, fetch_data: list) -> None:
        self.raw, self._raw_uid_data, self._raw_flag_data = self._get_message_data_parts(fetch_data)


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    folder: str
    security: str  # ssl, starttls, none
    processed_folder: str

    @classmethod
    def from_settings(cls) -> "ImapConfig | None":
        if settings.INBOUND_IMAP_URL:
            url = urlsplit(settings.INBOUND_IMAP_URL)
            security = "ssl" if url.scheme == "imaps" else settings.INBOUND_IMAP_SECURITY
            if url.scheme == "imap" and security == "ssl":
                security = "starttls"
            return cls(
                host=url.hostname or "",
                port=url.port or (993 if security == "ssl" else 143),
                user=unquote(url.username or ""),
                password=unquote(url.password or ""),
                folder=unquote(url.path.lstrip("/")) or settings.INBOUND_IMAP_FOLDER,
                security=security,
                processed_folder=settings.INBOUND_PROCESSED_FOLDER,
            )
        if settings.INBOUND_IMAP_HOST:
            security = settings.INBOUND_IMAP_SECURITY
            return cls(
                host=settings.INBOUND_IMAP_HOST,
                port=settings.INBOUND_IMAP_PORT or (993 if security == "ssl" else 143),
                user=settings.INBOUND_IMAP_USER,
                password=settings.INBOUND_IMAP_PASSWORD,
                folder=settings.INBOUND_IMAP_FOLDER,
                security=security,
                processed_folder=settings.INBOUND_PROCESSED_FOLDER,
            )
        return None


class ImapSource:
    """One IMAP folder. Messages waiting are every undeleted one in it: stored ones are moved out."""

    def __init__(self, config: ImapConfig):
        self.config = config
        self.name = f"imap://{config.user}@{config.host}:{config.port}/{config.folder}"
        self.uidvalidity: int | None = None
        self.box = None

    def __enter__(self):
        config = self.config
        if config.security == "ssl":
            box = MailBox(config.host, config.port)
        elif config.security == "starttls":
            box = MailBoxStartTls(config.host, config.port)
        else:
            box = MailBoxUnencrypted(config.host, config.port)
        self.box = box.login(config.user, config.password, initial_folder=config.folder)
        if not self.box.folder.exists(config.processed_folder):
            self.box.folder.create(config.processed_folder)
        self.uidvalidity = int(self.box.folder.status(config.folder, ["UIDVALIDITY"])["UIDVALIDITY"])
        return self

    def __exit__(self, *exc):
        try:
            self.box.logout()
        except Exception:  # the connection may be gone already; nothing to keep
            log.debug("IMAP logout failed", exc_info=True)
        return False

    def pending(self) -> list[str]:
        return self.box.uids("UNDELETED")

    def sizes(self, uids: list[str]) -> dict[str, int]:
        """RFC822.SIZE of each: batches stay within ``INBOUND_FETCH_MAX_BYTES`` of memory."""
        if not uids:
            return {}
        result = self.box.client.uid("FETCH", ",".join(uids), "(RFC822.SIZE)")
        check_command_status(result, MailboxFetchError)
        sizes = {}
        for item in result[1] or []:
            text = item.decode() if isinstance(item, bytes) else str(item)
            uid, size = _field(text, "UID"), _field(text, "RFC822.SIZE")
            if uid is not None and size is not None:
                sizes[uid] = int(size)
        return sizes

    def fetch(self, uids: list[str]) -> Iterator[Fetched]:
        box = self.box
        box.email_message_class = _RawMessage
        bulk = len(uids) if len(uids) >= 2 else False
        for message in box.fetch(uid_list=uids, mark_seen=False, bulk=bulk):
            yield Fetched(key=message.uid, uid=int(message.uid), raw=message.raw)

    def done(self, keys: list[str]) -> None:
        if keys:
            self.box.move(keys, self.config.processed_folder)


def _field(text: str, name: str) -> str | None:
    parts = text.replace("(", " ").replace(")", " ").split()
    for index, part in enumerate(parts[:-1]):
        if part.upper() == name:
            return parts[index + 1]
    return None


class FolderSource:
    """The embedded run: .eml files dropped into a folder (``INBOUND_DIR``), oldest first."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.processed = self.folder / "processed"
        self.name = f"folder:{self.folder.resolve()}"
        self.uidvalidity = None

    def __enter__(self):
        self.processed.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc):
        return False

    def pending(self) -> list[str]:
        files = [path for path in self.folder.glob("*.eml") if path.is_file()]
        return [path.name for path in sorted(files, key=lambda path: (path.stat().st_mtime, path.name))]

    def sizes(self, keys: list[str]) -> dict[str, int]:
        return {key: (self.folder / key).stat().st_size for key in keys if (self.folder / key).exists()}

    def fetch(self, keys: list[str]) -> Iterator[Fetched]:
        for key in keys:
            path = self.folder / key
            if path.exists():
                yield Fetched(key=key, uid=None, raw=path.read_bytes())

    def done(self, keys: list[str]) -> None:
        for key in keys:
            source, target = self.folder / key, self.processed / key
            counter = 1
            while target.exists():
                target = self.processed / f"{Path(key).stem}.{counter}.eml"
                counter += 1
            if source.exists():
                source.rename(target)


def configured():
    """The mailbox the settings name: IMAP when configured, else the local folder."""
    config = ImapConfig.from_settings()
    return ImapSource(config) if config else FolderSource(settings.INBOUND_DIR)
