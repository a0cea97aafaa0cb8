"""Evidence files: accepted by content, limited in size and pixels, stripped of personal metadata.

Photos are opened with Pillow (HEIC through pillow-heif); the file's name and
the browser's content type are never trusted. Videos are recognised by the
ISO base media file format's ``ftyp`` box (MP4, MOV).

Memory stays bounded (docs/security.md): the pixel cap is checked on the header,
before any decoding; JPEG and PNG are cleaned by rewriting their segments and
chunks, never decoded whole (a JPEG is test-decoded at 1/8 scale); a video is
copied in chunks to a temporary file and its boxes are read by seeking.

What the stored copy keeps: the pixels, the orientation and the colour profile.
Every other EXIF tag (artist, owner, serial numbers, GPS, maker notes), XMP,
IPTC, comments and text chunks are removed; in a video the user-data and
metadata boxes (``udta`` with ``©xyz``, ``meta``, XMP) become ``free`` boxes of
the same size with their bytes zeroed, so every offset stays valid.
"""

import io
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass

import pillow_heif
from django.conf import settings
from django.core.files.base import ContentFile, File
from PIL import Image, ImageOps, UnidentifiedImageError

from returns.models import EvidenceKind

pillow_heif.register_heif_opener()

PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
# A phone's multi-picture JPEG (a second lens, a depth map) opens as MPO: it is a
# JPEG, and only its first picture, the photo itself, is kept.
_FORMAT_ALIASES = {"MPO": "JPEG"}
# The stored file's extension comes from its content, never from the customer's
# name: storage and the embedded media view derive the Content-Type from it, and a
# video named "clip.html" must not be served as a web page.
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}, "HEIF": {"quality": 95}, "PNG": {}}
# ftyp major brands, from the MP4 registration authority's list.
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash", b"MSNV"}
_ORIENTATION = 0x0112
# Image info carried to a re-encoded copy; everything else (XMP, comments) is dropped.
_KEPT_INFO = {"icc_profile", "dpi", "transparency"}
THUMBNAIL_SIZE = (320, 320)


class RejectedUpload(ValueError):
    """The file cannot be evidence; the message names the file and says why."""


@dataclass(frozen=True)
class CheckedFile:
    content: File
    kind: str
    content_type: str
    original_name: str
    size_bytes: int

    @property
    def storage_name(self) -> str:
        """The name to store under: the extension matches the content."""
        return "evidence" + EXTENSIONS[self.content_type]


# What the pages accept, in the words their help texts and refusals use.
PHOTO_TYPES = "JPEG, PNG, WebP or HEIC"
PHOTOS = f"{PHOTO_TYPES} photos"
EVIDENCE = f"{PHOTOS}, or MP4 or MOV videos"


def check_evidence(upload, *, videos: bool = True) -> CheckedFile:
    """Accept an uploaded file as evidence or raise ``RejectedUpload``. ``videos`` False: a page that takes
    photos only (a parcel received, an inspection), whose refusals name only what it takes."""
    name = upload.name
    upload.seek(0)
    head = upload.read(12)
    upload.seek(0)
    video_type = _video_type(head)
    if video_type and not videos:
        raise RejectedUpload(f"“{name}” is a video; this page takes photos only ({PHOTO_TYPES}).")
    if video_type:
        _refuse_if_larger(upload, name, settings.EVIDENCE_MAX_VIDEO_BYTES)
        return CheckedFile(_clean_video(upload, name), EvidenceKind.VIDEO, video_type, name, upload.size)
    _refuse_if_larger(upload, name, settings.EVIDENCE_MAX_IMAGE_BYTES)
    data = upload.read()
    cleaned, content_type = _clean_photo(data, name, videos)
    return CheckedFile(ContentFile(cleaned), EvidenceKind.PHOTO, content_type, name, len(cleaned))


def make_thumbnail(photo: bytes) -> bytes:
    with Image.open(io.BytesIO(photo)) as image:
        image.draft("RGB", THUMBNAIL_SIZE)  # a JPEG decodes at 1/2..1/8 scale: a fraction of the memory
        thumb = ImageOps.exif_transpose(image).convert("RGB")
        thumb.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        thumb.save(out, "JPEG", quality=85)
        return out.getvalue()


def _video_type(head: bytes) -> str | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _MOV_BRANDS:
        return "video/quicktime"
    if brand in _MP4_BRANDS:
        return "video/mp4"
    return None


def _refuse_if_larger(upload, name: str, limit: int) -> None:
    if upload.size > limit:
        raise RejectedUpload(f"“{name}” is {_mb(upload.size)}; the limit is {_mb(limit)}.")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _clean_photo(data: bytes, name: str, videos: bool) -> tuple[bytes, str]:
    accepted = EVIDENCE if videos else PHOTOS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format = _FORMAT_ALIASES.get(image.format, image.format)
                if image_format not in PHOTO_FORMATS:
                    raise RejectedUpload(f"“{name}” is a {image.format} image; we accept {accepted}.")
                # Read from the header: nothing is decoded before this check.
                pixels = image.width * image.height
                if pixels > settings.EVIDENCE_MAX_PIXELS:
                    raise RejectedUpload(
                        f"“{name}” is {image.width}×{image.height} pixels; "
                        f"the limit is {settings.EVIDENCE_MAX_PIXELS / 1e6:.0f} megapixels."
                    )
                if image_format == "PNG":
                    image.verify()  # every chunk's checksum, through IEND, without decoding
                    return _png_without_metadata(data), PHOTO_FORMATS[image_format]
                orientation = image.getexif().get(_ORIENTATION, 1)
                if image_format == "JPEG":
                    image.draft(image.mode, (image.width // 8, image.height // 8))
                    image.load()  # the whole file, decoded at 1/8 scale: a damaged one fails here
                    return _jpeg_without_metadata(data, orientation), PHOTO_FORMATS[image_format]
                image.load()
                return _reencoded(image, image_format, orientation), PHOTO_FORMATS[image_format]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RejectedUpload(f"“{name}” has too many pixels to be a photo.") from None
    except UnidentifiedImageError:
        what = "a photo or video" if videos else "a photo"
        raise RejectedUpload(f"“{name}” is not {what} we can read; we accept {accepted}.") from None
    except RejectedUpload:
        raise
    except (OSError, SyntaxError, ValueError, IndexError, struct.error) as error:
        raise RejectedUpload(f"“{name}” is damaged and cannot be read ({error}).") from None


def _orientation_exif(orientation: int) -> bytes:
    """An EXIF block holding the orientation alone (``b"Exif\0\0"`` and a TIFF header), or nothing."""
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return b""
    exif = Image.Exif()
    exif[_ORIENTATION] = int(orientation)
    return exif.tobytes()


def _reencoded(image: Image.Image, image_format: str, orientation: int) -> bytes:
    """WebP and HEIC: decoded and written again with the colour profile and the orientation only."""
    image.info = {key: value for key, value in image.info.items() if key in _KEPT_INFO}
    options = dict(_SAVE_OPTIONS[image_format])
    # Pillow's JPEG and WebP writers take the colour profile only as an option.
    if image.info.get("icc_profile"):
        options["icc_profile"] = image.info["icc_profile"]
    exif = Image.Exif()
    if orientation != 1:
        exif[_ORIENTATION] = orientation
    options["exif"] = exif.tobytes()  # given even when empty: else HEIF's writer copies the original's
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


# JPEG application segments kept, by marker and the identifier their payload starts with; every other
# APPn (EXIF, XMP, IPTC, maker data, MPF) and every comment is dropped.
_JPEG_KEPT_APP = {0xE0: (b"JFIF\0", b"JFXX\0"), 0xE2: (b"ICC_PROFILE\0",), 0xEE: (b"Adobe",)}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _jpeg_without_metadata(data: bytes, orientation: int) -> bytes:
    """The JPEG's segments minus its metadata, up to its first end-of-image (an MPO's other pictures go)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start marker")
    out = [b"\xff\xd8"]
    exif = _orientation_exif(orientation)
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if exif and marker != 0xE0:  # after JFIF's APP0, before everything else
            out.append(b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
            exif = b""
        if marker in _JPEG_STANDALONE:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if end > len(data):
            raise ValueError("a JPEG segment runs past the end of the file")
        if marker == 0xDA:  # start of scan: entropy-coded data follows, up to the next real marker
            end = _jpeg_scan_end(data, end)
            out.append(data[pos:end])
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            if data[pos + 4 : end].startswith(_JPEG_KEPT_APP.get(marker, ())):
                out.append(data[pos:end])
        else:
            out.append(data[pos:end])
        pos = end


def _jpeg_scan_end(data: bytes, pos: int) -> int:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise ValueError("the JPEG's image data is cut short")
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # a stuffed 0xFF, a restart marker
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


# PNG chunks kept: the image, its colours and its animation; text, time, EXIF and unknown chunks go.
_PNG_KEPT = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP",
    b"mDCV", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_without_metadata(data: bytes) -> bytes:
    """The PNG's chunks minus its metadata; an eXIf chunk is replaced by one holding the orientation alone."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    out = [_PNG_SIGNATURE]
    exif = b""
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if kind == b"eXIf":  # TIFF data without "Exif\0\0"
            original = Image.Exif()
            original.load(b"Exif\0\0" + data[pos + 8 : end - 4])
            exif = _orientation_exif(original.get(_ORIENTATION, 1))[6:]
        if exif and kind == b"IDAT":  # eXIf must come before the image data
            out.append(struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif)))
            exif = b""
        if kind in _PNG_KEPT:
            out.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(out)
        pos = end
    raise ValueError("the PNG ends before its IEND chunk")


# --- Videos ---------------------------------------------------------------------

# Boxes that hold other boxes, walked to find the metadata; udta and meta are emptied wherever they are.
_VIDEO_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"edts"}
_VIDEO_PERSONAL = {b"udta", b"meta"}
_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
_COPY_CHUNK = 1024 * 1024


def _clean_video(upload, name: str) -> File:
    """A copy of the video (in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, then on disk) without its metadata."""
    copy = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115 (handed on, open)
    upload.seek(0)
    for chunk in upload.chunks(_COPY_CHUNK):
        copy.write(chunk)
    size = copy.tell()
    try:
        found = _free_personal_boxes(copy, 0, size)
    except (ValueError, struct.error) as error:
        copy.close()
        raise RejectedUpload(f"“{name}” is damaged and cannot be read ({error}).") from None
    if b"moov" not in found:
        copy.close()
        raise RejectedUpload(f"“{name}” is not a complete video: it has no movie header (moov box).")
    copy.seek(0)
    return File(copy, name=name)


def _free_personal_boxes(file, start: int, end: int) -> set[bytes]:
    """Walk the boxes in ``[start, end)`` by seeking; empty the personal ones in place. The types seen."""
    seen = set()
    pos = start
    while pos + 8 <= end:
        file.seek(pos)
        size, kind = struct.unpack(">I4s", file.read(8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", file.read(8))
            header = 16
        elif size == 0:  # the last box, to the end
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} at byte {pos} has a size of {size}")
        seen.add(kind)
        personal = kind in _VIDEO_PERSONAL or (kind == b"uuid" and file.read(16) == _XMP_UUID)
        if personal:
            _make_free(file, pos, header, size)
        elif kind in _VIDEO_CONTAINERS:
            _free_personal_boxes(file, pos + header, pos + size)
        pos += size
    return seen


def _make_free(file, pos: int, header: int, size: int) -> None:
    """The box becomes ``free`` of the same size, its bytes zeroed: offsets into the file stay valid."""
    file.seek(pos + 4)
    file.write(b"free")
    file.seek(pos + header)
    left = size - header
    zeros = bytes(min(left, _COPY_CHUNK))
    while left > 0:
        file.write(zeros[: min(left, len(zeros))])
        left -= min(left, len(zeros))
