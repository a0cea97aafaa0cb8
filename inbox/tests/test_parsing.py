"""inbox.parsing: real-world shapes and bad mail, bytes in, what a person reads out (no database)."""

from email.message import EmailMessage

from inbox import parsing, testing

SUPPORT = "support@brand.example"


def test_iphone_photo_email_gives_text_sender_and_the_inline_photo():
    raw = testing.iphone_photo_email("Ann Lee <Ann@Example.com>", SUPPORT, "Cage bent", "It arrived bent.")

    parsed = parsing.parse(raw)

    assert (parsed.sender_name, parsed.sender_email) == ("Ann Lee", "ann@example.com")
    assert parsed.display_text == "It arrived bent.\n\nSent from my iPhone"
    [photo] = parsed.attachments
    assert (photo.name, photo.content_type, photo.inline) == ("IMG_4521.JPG", "image/jpeg", True)
    assert parsed.kind == parsing.CUSTOMER and parsed.problems == []


def test_outlook_reply_is_trimmed_of_the_quoted_thread_and_keeps_it_in_full():
    raw = testing.outlook_reply(
        "bob@example.com",
        SUPPORT,
        "RE: We need more information",
        "Here is the serial: SN-4411.",
        quoted_from="After-sales <support@brand.example>",
        quoted_text="Please send the serial number.",
    )

    parsed = parsing.parse(raw)

    assert parsed.display_text == "Here is the serial: SN-4411."
    assert "Please send the serial number." in parsed.body_text
    assert "<div" in parsed.body_html


def test_on_date_wrote_and_trailing_quotes_are_trimmed():
    text = "Photo attached.\n\nOn Mon, 2 Mar 2026 at 10:00, After-sales <support@brand.example>\nwrote:\n> Please send a photo.\n"

    assert parsing.trim_quoted(text) == "Photo attached."
    assert parsing.trim_quoted("> only a quote") == "> only a quote"


def test_forwarded_message_is_unfolded_with_its_attachments():
    inner = testing.iphone_photo_email("shop@store.example", "ann@example.com", "Your order SO-100200", "Thanks!")
    raw = testing.forwarded_email("ann@example.com", SUPPORT, "Fwd: my order", "See below.", inner)

    parsed = parsing.parse(raw)

    assert "---------- Forwarded message ----------" in parsed.display_text
    assert "Subject: Your order SO-100200" in parsed.body_text
    [photo] = parsed.attachments
    assert photo.from_forwarded and photo.content_type == "image/jpeg"


def test_any_charset_and_encoded_file_names():
    message = EmailMessage()
    message["From"] = "=?iso-8859-1?q?J=F6rg_M=FCller?= <jorg@example.de>"
    message["To"] = SUPPORT
    message["Subject"] = "=?shift_jis?b?g0qDgYOJgsyDTIODg2KDdg==?="
    message.set_content("Gerät defekt, Grüße", charset="iso-8859-1", cte="quoted-printable")
    message.add_attachment(b"x", maintype="application", subtype="pdf", filename="Rechnung März.pdf")
    raw = bytes(message)

    parsed = parsing.parse(raw)

    assert parsed.sender_name == "Jörg Müller"
    assert parsed.subject == "カメラのキャップ"
    assert parsed.body_text.strip() == "Gerät defekt, Grüße"
    assert parsed.attachments[0].name == "Rechnung März.pdf"


def test_rfc2047_file_name_and_unknown_charset():
    raw = (
        b"From: a@example.com\r\nTo: support@brand.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=x-unknown-8bit\r\n\r\ncaf\xc3\xa9\r\n--b\r\n"
        b'Content-Type: image/jpeg; name="=?utf-8?b?5YaZ55yfLmpwZw==?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n"
    )

    parsed = parsing.parse(raw)

    assert parsed.body_text == "café"
    assert parsed.attachments[0].name == "写真.jpg"
    assert any("x-unknown-8bit" in problem for problem in parsed.problems)


def test_html_only_body_loses_its_script_in_the_text_and_keeps_the_source():
    message = EmailMessage()
    message["From"] = "eve@example.com"
    message["To"] = SUPPORT
    message["Subject"] = "html"
    message.set_content(
        "<html><head><script>alert('x')</script></head><body><p>Hello <b>there</b></p>"
        "<blockquote>old text</blockquote></body></html>",
        subtype="html",
    )

    parsed = parsing.parse(bytes(message))

    assert "alert" not in parsed.body_text
    assert parsed.display_text == "Hello there"
    assert "<script>" in parsed.body_html


def test_header_newline_injection_is_one_line():
    raw = (
        b"From: a@example.com\r\nTo: support@brand.example\r\n"
        b"Subject: =?utf-8?q?Help=0D=0ABcc:_victim@example.com?=\r\n\r\nbody\r\n"
    )

    parsed = parsing.parse(raw)

    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    assert parsed.subject == "Help Bcc: victim@example.com"


def test_sender_that_is_not_an_address_is_kept_as_written_with_a_problem():
    parsed = parsing.parse(b"From: Customer Service Dept\r\nSubject: hi\r\n\r\nhello\r\n")

    assert parsed.sender_email == ""
    assert parsed.sender_raw == "Customer Service Dept"
    assert any("not an email address" in problem for problem in parsed.problems)


def test_malformed_mime_and_no_body_are_read_as_far_as_possible():
    broken = parsing.parse(
        b"From: a@example.com\r\nContent-Type: multipart/mixed\r\nSubject: no boundary\r\n\r\nsome text\r\n"
    )
    empty = parsing.parse(b"From: a@example.com\r\nSubject: empty\r\n\r\n")

    assert "some text" in broken.body_text
    assert any("damaged" in problem for problem in broken.problems)
    assert empty.body_text == "" and any("no text" in problem for problem in empty.problems)
    assert empty.message_id.endswith("@no-message-id.invalid>") and not empty.had_message_id


def test_auto_replies_and_bounces_are_recognised():
    ooo = parsing.parse(testing.out_of_office("bob@example.com", SUPPORT))
    bulk = parsing.parse(b"From: news@shop.example\r\nPrecedence: bulk\r\n\r\nsale\r\n")
    loop = parsing.parse(b"From: support@brand.example\r\n\r\nx\r\n", own_addresses={SUPPORT})
    bounce = parsing.parse(
        b"From: MAILER-DAEMON@mx.example\r\nContent-Type: multipart/report; report-type=delivery-status;"
        b' boundary="r"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--r\r\n'
        b"Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n--r--\r\n"
    )

    assert (ooo.kind, bulk.kind, loop.kind, bounce.kind) == (
        parsing.AUTO_REPLY,
        parsing.AUTO_REPLY,
        parsing.AUTO_REPLY,
        parsing.BOUNCE,
    )
    assert "Delivery failed." in bounce.body_text
