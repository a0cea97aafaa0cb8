"""An email's bytes into what a person reads: a pure function, no database.

Python's ``email`` package (``policy.default``) parses; every header and part is read defensively, so a
malformed message still gives what could be read and says what was wrong (``problems``). Bodies: the
plain text where the sender gave one, else text made from the HTML (scripts and styles dropped); the HTML
itself is kept as source, never rendered. Forwarded messages (``message/rfc822``) are unfolded with their
own From, Date and Subject, and their attachments kept. ``display_text`` is the text without the quoted
earlier thread (``trim_quoted``); the full text is kept beside it.
"""

import codecs
import contextlib
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import PureWindowsPath

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

CUSTOMER, AUTO_REPLY, BOUNCE = "customer", "auto_reply", "bounce"
MAX_ID_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster"}
_ASCII_CHARSETS = {"us-ascii", "ascii", "ansi_x3.4-1968"}


@dataclass
class ParsedAttachment:
    name: str
    content_type: str
    data: bytes
    inline: bool = False
    from_forwarded: bool = False


@dataclass
class ParsedMessage:
    message_id: str
    had_message_id: bool
    in_reply_to: list[str]
    references: list[str]
    sender_email: str
    sender_name: str
    sender_raw: str
    recipients: list[str]
    subject: str
    sent_at: datetime | None
    body_text: str
    body_html: str
    display_text: str
    kind: str
    kind_reason: str
    headers: str
    size: int
    attachments: list[ParsedAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse(raw: bytes, *, own_addresses=frozenset()) -> ParsedMessage:
    """Parse ``raw``; never raises for a bad message. ``own_addresses``: ours, so a message from us is a loop."""
    problems: list[str] = []
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as error:  # the parser is lenient; this is the last resort
        problems.append(f"The message could not be parsed as MIME ({type(error).__name__}); kept as text.")
        message = message_from_bytes(raw)
    legacy = message_from_bytes(raw)  # compat32: the raw header values, when the modern parser chokes on one
    read = _HeaderReader(message, legacy)

    raw_message_id = read.text("Message-ID")
    ids = _MESSAGE_ID.findall(raw_message_id)
    had_message_id = bool(ids)
    message_id = normalise_id(ids[0]) if ids else f"<{hashlib.sha256(raw).hexdigest()}@no-message-id.invalid>"
    in_reply_to = [normalise_id(i) for i in _MESSAGE_ID.findall(read.text("In-Reply-To"))]
    references = [normalise_id(i) for i in _MESSAGE_ID.findall(read.text("References"))]

    sender_raw = read._legacy_text("From")
    sender_name, sender_email = _address(read, "From")
    if not sender_email:
        problems.append(f"The sender is not an email address: “{sender_raw or '(empty)'}”.")
    recipients = []
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        recipients += [address for _, address in read.addresses(name)]
    recipients = list(dict.fromkeys(address.lower() for address in recipients if address))

    sent_at = None
    if date_header := read.text("Date"):
        try:
            sent_at = parsedate_to_datetime(date_header)
            if sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            problems.append(f"The date “{date_header[:80]}” could not be read.")

    collector = _Collector(problems)
    try:
        collector.part(message)
    except Exception as error:  # a structure the walker did not foresee: keep what was collected
        problems.append(f"Part of the message could not be read ({type(error).__name__}).")
    body_text = _join(collector.texts)
    body_html = "\n<hr>\n".join(html for html in collector.htmls if html.strip())
    defects = _defects(message)
    if defects:
        problems.append(f"The message's structure is damaged ({', '.join(defects)}); shown as far as it could be read.")
    if not body_text.strip() and not collector.attachments:
        problems.append("The message has no text and no attachment.")

    kind, kind_reason = _kind(message, read, sender_email, own_addresses)
    return ParsedMessage(
        message_id=message_id,
        had_message_id=had_message_id,
        in_reply_to=in_reply_to,
        references=references,
        sender_email=sender_email,
        sender_name=sender_name[:255],
        sender_raw=sender_raw,
        recipients=recipients,
        subject=read.text("Subject"),
        sent_at=sent_at,
        body_text=body_text,
        body_html=body_html,
        display_text=trim_quoted(body_text),
        kind=kind,
        kind_reason=kind_reason,
        headers=_header_block(legacy),
        size=len(raw),
        attachments=collector.attachments,
        problems=problems,
    )


def normalise_id(message_id: str) -> str:
    """A Message-ID as stored and matched: as sent, or a digest when longer than the column."""
    message_id = message_id.strip()
    if len(message_id) <= MAX_ID_LENGTH:
        return message_id
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()}@long-message-id.invalid>"


def one_line(value: str) -> str:
    """A header value on one line: a CR or LF in it (an injection attempt, or a folded encoded word) is a space."""
    return " ".join(_CONTROL.sub(" ", value).split())


class _HeaderReader:
    def __init__(self, message: Message, legacy: Message):
        self.message, self.legacy = message, legacy

    def text(self, name: str) -> str:
        try:
            value = self.message.get(name)
            return one_line(str(value)) if value is not None else ""
        except Exception:
            return self._legacy_text(name)

    def _legacy_text(self, name: str) -> str:
        value = self.legacy.get(name)
        if value is None:
            return ""
        try:
            return one_line(str(make_header(decode_header(str(value)))))
        except Exception:
            return one_line(str(value))

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(name, address) pairs whose address is valid; the display name decoded."""
        pairs = []
        try:
            header = self.message.get(name)
            if header is not None and hasattr(header, "addresses"):
                pairs = [(one_line(a.display_name), a.addr_spec) for a in header.addresses]
        except Exception:
            pairs = []
        if not pairs:
            pairs = [(one_line(n), a) for n, a in getaddresses([self._legacy_text(name)])]
        return [(n, a.strip()) for n, a in pairs if _is_address(a.strip())]


def _address(read: _HeaderReader, name: str) -> tuple[str, str]:
    pairs = read.addresses(name)
    if not pairs:
        return "", ""
    display, address = pairs[0]
    return display, address.lower()


def _is_address(value: str) -> bool:
    if not value or len(value) > 254:
        return False
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


class _Collector:
    """Walks the MIME tree: text segments in order, HTML sources, attachments."""

    def __init__(self, problems: list[str], forwarded: bool = False):
        self.problems = problems
        self.forwarded = forwarded
        self.texts: list[tuple[str, bool]] = []  # (text, made from HTML)
        self.htmls: list[str] = []
        self.attachments: list[ParsedAttachment] = []

    def part(self, part: Message, depth: int = 0) -> None:
        if depth > 30:
            self.problems.append("The message nests parts too deeply; the deepest were left out.")
            return
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            self._forwarded(part, depth)
            return
        if part.is_multipart():
            children = list(part.iter_parts()) if hasattr(part, "iter_parts") else part.get_payload()
            if content_type == "multipart/alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.part(child, depth + 1)
            return
        if part.get_content_maintype() == "multipart":  # no boundary, or a broken one: its body is text
            payload = part.get_payload()
            text = payload if isinstance(payload, str) else _decode_text(part, self.problems)
            self.texts.append((_newlines(text), False))
            return
        disposition = _disposition(part)
        filename = _filename(part)
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = _decode_text(part, self.problems)
            if content_type == "text/plain":
                self.texts.append((text, False))
            else:
                self.htmls.append(text)
                self.texts.append((html_to_text(text), True))
            return
        if content_type in ("message/delivery-status", "text/rfc822-headers", "message/disposition-notification"):
            self.texts.append((_decode_text(part, self.problems), False))
            return
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:
            data = b""
            self.problems.append(f"The attachment “{filename or content_type}” could not be decoded.")
        if not filename and not data:
            return
        position = len(self.attachments) + 1
        self.attachments.append(
            ParsedAttachment(
                name=_safe_name(filename, content_type, position),
                content_type=content_type,
                data=data,
                inline=disposition == "inline" or (disposition is None and bool(part.get("Content-ID"))),
                from_forwarded=self.forwarded,
            )
        )

    def _alternative(self, children, depth: int) -> None:
        """The same content in several forms: the sender's plain text if any, else text from the HTML."""
        versions = []
        for child in children:
            sub = _Collector(self.problems, self.forwarded)
            sub.part(child, depth + 1)
            versions.append(sub)
            self.attachments += sub.attachments
        plain = [v for v in versions if v.texts and not all(made for _, made in v.texts)]
        chosen = plain[0] if plain else next((v for v in versions if v.texts), None)
        if chosen:
            self.texts += chosen.texts
        html = next((v for v in reversed(versions) if v.htmls), None)
        if html:
            self.htmls += html.htmls

    def _forwarded(self, part: Message, depth: int) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            self.problems.append("A forwarded message could not be read; kept as an attachment.")
            data = part.get_payload(decode=True) or b""
            self.attachments.append(
                ParsedAttachment(f"forwarded-{len(self.attachments) + 1}.eml", "message/rfc822", data)
            )
            return
        read = _HeaderReader(inner, inner)
        heading = [
            "---------- Forwarded message ----------",
            f"From: {read.text('From')}",
            f"Date: {read.text('Date')}",
            f"Subject: {read.text('Subject')}",
            "",
        ]
        sub = _Collector(self.problems, forwarded=True)
        sub.part(inner, depth + 1)
        self.texts.append(("\n".join(heading) + _join(sub.texts), False))
        self.htmls += sub.htmls
        self.attachments += sub.attachments


def _join(texts: list[tuple[str, bool]]) -> str:
    return "\n\n".join(text.strip("\n") for text, _ in texts if text.strip())


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message) -> str:
    """The file's name, RFC 2231 and encoded words decoded (``policy.default`` does both)."""
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    if not name:
        try:
            name = part.get_param("name") or ""
            if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
                name = codecs.decode(name[2].encode("latin-1"), name[0] or "utf-8", "replace")
        except Exception:
            name = ""
    if "=?" in name:
        with contextlib.suppress(Exception):
            name = str(make_header(decode_header(name)))
    return one_line(str(name))


def _safe_name(name: str, content_type: str, position: int) -> str:
    """The name as a person reads it, without a path; one made up from the type when there is none."""
    name = PureWindowsPath(name.replace("/", "\\")).name.strip(" .") if name else ""
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{position}{extension}"
    return name[:200]


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_text(part: Message, problems: list[str]) -> str:
    """A text part in any charset, with plain newlines."""
    return _newlines(_decode_charset(part, problems))


def _decode_charset(part: Message, problems: list[str]) -> str:
    """The declared charset, UTF-8 where "ASCII" hides 8-bit text, else a guess."""
    try:
        data = part.get_payload(decode=True) or b""
    except Exception:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = (part.get_content_charset() or "us-ascii").lower()
    if charset in _ASCII_CHARSETS or charset in ("utf8", "utf-8"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            charset = "windows-1252"
    try:
        codecs.lookup(charset)
    except LookupError:
        problems.append(f"Unknown character set “{charset}”: the text was read as UTF-8.")
        return data.decode("utf-8", errors="replace")
    return data.decode(charset, errors="replace")


def _defects(message: Message) -> list[str]:
    names = []
    for part in message.walk():
        names += [type(defect).__name__ for defect in getattr(part, "defects", [])]
    return list(dict.fromkeys(names))


def _header_block(legacy: Message) -> str:
    lines = []
    for name, value in legacy.items():
        try:
            text = one_line(str(make_header(decode_header(str(value)))))
        except Exception:
            text = one_line(str(value))
        lines.append(f"{one_line(name)}: {text}")
    return "\n".join(lines)


def _kind(message: Message, read: _HeaderReader, sender: str, own_addresses) -> tuple[str, str]:
    """Bounces and auto-replies (RFC 3464, RFC 3834 and the de-facto headers): never acted on."""
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type") or "").lower() if content_type == "multipart/report" else ""
    if report_type == "delivery-status":
        return BOUNCE, "a delivery status report"
    if read.text("X-Failed-Recipients"):
        return BOUNCE, "X-Failed-Recipients"
    if sender.partition("@")[0] in _BOUNCE_SENDERS:
        return BOUNCE, f"sent by {sender}"
    auto_submitted = read.text("Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return AUTO_REPLY, f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if read.text(name):
            return AUTO_REPLY, name
    precedence = read.text("Precedence").lower()
    if precedence in _AUTO_PRECEDENCE:
        return AUTO_REPLY, f"Precedence: {precedence}"
    if report_type:
        return AUTO_REPLY, f"a {report_type} report"
    if sender and sender in own_addresses:
        return AUTO_REPLY, "sent from our own address (a loop)"
    if read.text("Return-Path") == "<>":
        return AUTO_REPLY, "an empty return path"
    return CUSTOMER, ""


# --- Text for people ---------------------------------------------------------------


class _TextFromHtml(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "template", "noscript"}
    _BLOCK = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.quote = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skipping += 1
        elif tag == "br":
            self._newline()
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in self._BLOCK:
            self._newline()

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self._newline()

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag in self._BLOCK:
            self._newline()

    def handle_data(self, data):
        if self.skipping:
            return
        text = " ".join(data.split())
        if not text:
            return
        if not self.out or self.out[-1] == "\n":
            self.out.append("> " * self.quote)
        elif not self.out[-1].endswith(" "):
            self.out.append(" ")
        self.out.append(text)

    def _newline(self):
        self.out.append("\n")


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: no script, no style; quoted blocks keep their "> " marks."""
    parser = _TextFromHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", html)
    lines = [line.rstrip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_QUOTE_HEADERS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}", re.IGNORECASE),
    re.compile(r"^\s*(Le|El|Il|Em|Op)\b.{0,300}(a écrit|escribió|ha scritto|escreveu|schreef)\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE),
    re.compile(r"^\s*在.{0,200}写道[:：]\s*$"),
]
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|De|Von|Van|发件人)\s*[:：]", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(Sent|Date|Envoyé|Gesendet|Verzonden|发送时间|To)\s*[:：]", re.IGNORECASE)
_FORWARD_MARK = re.compile(r"^\s*-{3,}\s*(Forwarded message|Begin forwarded message)", re.IGNORECASE)


def trim_quoted(text: str) -> str:
    """The text without the earlier thread it quotes ("On … wrote:", Outlook's "From: … Sent: …" block,
    "-----Original Message-----", trailing "> " lines). A forwarded message is the point of its email: kept.
    When nothing would be left, the whole text."""
    lines = text.split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        if _FORWARD_MARK.match(line):
            break
        two = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if any(pattern.match(line) or pattern.match(two) for pattern in _QUOTE_HEADERS):
            cut = index
            break
        if re.match(r"^\s*_{8,}\s*$", line) and any(_OUTLOOK_FROM.match(n) for n in lines[index + 1 : index + 4]):
            cut = index
            break
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(n) for n in lines[index + 1 : index + 4]):
            cut = index
            break
    kept = lines[:cut]
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    trimmed = "\n".join(kept).strip()
    return trimmed or text.strip()
