"""Uploads in bounded memory, and video metadata removed without re-encoding.

The memory tests measure this process's peak resident memory (``VmHWM`` in ``/proc/self/status``),
reset to the current resident memory just before the check (``/proc/self/clear_refs``), so only what
the check itself allocates counts. The limit each states is the one ``docs/security.md`` gives.
"""

import gc
import re
import struct
import zlib
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile

from returns import services, uploads
from returns.models import EvidenceKind
from returns.tests.factories import ClaimItemFactory

MIB = 1024 * 1024
# What checking one upload may add to the process's peak resident memory.
CHECK_MEMORY_LIMIT = 32 * MIB


def resident(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process, in bytes."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


def peak_growth(work) -> int:
    """Run ``work()``; how far the peak resident memory rose above the resident memory before it."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current VmRSS
    before = resident("VmRSS")
    work()
    return resident("VmHWM") - before


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def solid_png(path: Path, width: int, height: int) -> Path:
    """A ``width`` × ``height`` PNG of one colour, written row by row: small on disk, huge once decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x1f\x4e\x8c" * width
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
        out.write(chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


LOCATION = b"+22.5333+113.9333/"
FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")


def moov_with_personal_data() -> bytes:
    """A movie header with a location (``©xyz`` in ``udta``), an Apple ``meta`` box and a track's ``udta``."""
    mvhd = box(b"mvhd", bytes(100))
    udta = box(b"udta", box(b"\xa9xyz", struct.pack(">HH", len(LOCATION), 0x15C7) + LOCATION))
    meta = box(b"meta", bytes(4) + box(b"keys", b"com.apple.quicktime.location.ISO6709") + box(b"ilst", LOCATION))
    trak = box(b"trak", box(b"tkhd", bytes(84)) + box(b"udta", box(b"name", b"Jane's camera")))
    return box(b"moov", mvhd + trak + udta + meta)


@pytest.fixture(scope="module")
def png_59_megapixels(tmp_path_factory) -> Path:
    return solid_png(tmp_path_factory.mktemp("png") / "wall.png", 8860, 6660)


def test_a_59_megapixel_png_is_checked_without_decoding_it(png_59_megapixels):
    assert png_59_megapixels.stat().st_size < 400_000  # ~177 MB once decoded (3 bytes a pixel)
    result = {}

    def check():
        with png_59_megapixels.open("rb") as source:
            result["checked"] = uploads.check_evidence(File(source, name="wall.png"))

    growth = peak_growth(check)

    print(f"59 MP PNG: peak resident memory +{growth / MIB:.1f} MiB (limit {CHECK_MEMORY_LIMIT / MIB:.0f} MiB)")
    assert growth < CHECK_MEMORY_LIMIT
    assert result["checked"].kind == EvidenceKind.PHOTO
    assert result["checked"].content_type == "image/png"


def test_a_199_mb_video_is_checked_without_loading_it(tmp_path, settings):
    settings.EVIDENCE_MAX_VIDEO_BYTES = 200 * MIB
    path = tmp_path / "unboxing.mp4"
    media = 199 * MIB
    with path.open("wb") as out:
        out.write(FTYP + struct.pack(">I", 8 + media) + b"mdat")
        out.seek(media, 1)  # sparse: the media data costs no disk until the check copies it
        out.write(moov_with_personal_data())
    result = {}

    def check():
        with path.open("rb") as source:
            result["checked"] = uploads.check_evidence(File(source, name="unboxing.mp4"))

    growth = peak_growth(check)

    print(f"199 MB MP4: peak resident memory +{growth / MIB:.1f} MiB (limit {CHECK_MEMORY_LIMIT / MIB:.0f} MiB)")
    assert growth < CHECK_MEMORY_LIMIT
    checked = result["checked"]
    assert (checked.kind, checked.content_type, checked.size_bytes) == (
        EvidenceKind.VIDEO,
        "video/mp4",
        path.stat().st_size,
    )
    checked.content.seek(-len(moov_with_personal_data()), 2)
    assert LOCATION not in checked.content.read()


@pytest.mark.django_db
def test_a_stored_mp4_has_no_location_or_user_data_and_the_same_layout(cs, s3_objects):
    claim = ClaimItemFactory().claim
    frames = box(b"mdat", b"frame-bytes-" * 50)
    original = FTYP + moov_with_personal_data() + frames
    assert LOCATION in original

    evidence = services.evidence_add(
        claim_id=claim.pk, by=cs, upload=SimpleUploadedFile("clip.mp4", original, content_type="video/mp4")
    )

    stored = s3_objects(evidence.file.name)
    assert len(stored) == len(original)
    assert LOCATION not in stored and b"Jane's camera" not in stored and b"com.apple" not in stored
    assert b"udta" not in stored and b"meta" not in stored and b"\xa9xyz" not in stored
    assert stored.endswith(frames)  # the media data is where it was: every offset still points at it
    assert stored[: len(FTYP) + 8 + 108] == original[: len(FTYP) + 8 + 108]  # ftyp, moov header, mvhd
    assert stored.count(b"free") == 3  # the movie's udta and meta, the track's udta


def test_a_video_whose_box_sizes_do_not_add_up_is_refused():
    broken = FTYP + struct.pack(">I", 10_000) + b"moov" + bytes(20)

    with pytest.raises(uploads.RejectedUpload, match=re.escape("“cut.mp4” is damaged")):
        uploads.check_evidence(SimpleUploadedFile("cut.mp4", broken))


def test_a_video_without_a_movie_header_is_refused():
    with pytest.raises(uploads.RejectedUpload, match="no movie header"):
        uploads.check_evidence(SimpleUploadedFile("part.mp4", FTYP + box(b"mdat", bytes(64))))


def png_upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, solid_png_bytes(), content_type="image/png")


def solid_png_bytes() -> bytes:
    row = b"\x00" + b"\x1f\x4e\x8c" * 8
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * 8))
        + chunk(b"IEND", b"")
    )


@pytest.mark.django_db
def test_too_many_files_in_one_request_are_refused_with_the_limits(client, cs, settings):
    settings.UPLOAD_MAX_FILES = settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    claim = ClaimItemFactory().claim
    client.force_login(cs)

    response = client.post(
        f"/admin/returns/claim/{claim.pk}/evidence/", {"files": [png_upload(f"{n}.png") for n in range(4)]}
    )

    assert response.status_code == 413
    text = response.content.decode()
    assert "Send at most 3 files, 250 MB in all, at once." in text
    assert "Nothing was saved" in text
    assert not claim.evidence.exists()


@pytest.mark.django_db
def test_a_request_larger_than_the_cap_is_refused_before_it_is_read(client, cs, settings):
    settings.UPLOAD_MAX_REQUEST_BYTES = 1024 * 1024
    claim = ClaimItemFactory().claim
    client.force_login(cs)
    big = SimpleUploadedFile("big.png", solid_png_bytes() + bytes(1024 * 1024), content_type="image/png")

    response = client.post(f"/admin/returns/claim/{claim.pk}/evidence/", {"files": [big]})

    assert response.status_code == 413
    assert "1 MB in all" in response.content.decode()
    assert not claim.evidence.exists()


@pytest.mark.django_db
def test_files_within_the_limits_are_stored(client, cs, settings):
    settings.UPLOAD_MAX_FILES = settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    claim = ClaimItemFactory().claim
    client.force_login(cs)

    response = client.post(
        f"/admin/returns/claim/{claim.pk}/evidence/", {"files": [png_upload(f"{n}.png") for n in range(3)]}
    )

    assert response.status_code == 302
    assert claim.evidence.count() == 3
