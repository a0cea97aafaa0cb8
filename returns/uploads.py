"""Evidence files: accepted by content, limited in size and pixels, stripped of location.

Photos are opened with Pillow (HEIC through pillow-heif); the file's name and
the browser's content type are never trusted. Videos are recognised by the
ISO base media file format's ``ftyp`` box (MP4, MOV). A photo is re-encoded
without its GPS block so the stored copy carries no location; its orientation
and other EXIF tags stay.
"""

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from django.conf import settings
from django.core.files.base import ContentFile
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
_GPS_IFD = 0x8825
# Image info carried to the stored copy; everything else (XMP, comments) is dropped.
_KEPT_INFO = {"icc_profile", "dpi", "transparency"}
THUMBNAIL_SIZE = (320, 320)


class RejectedUpload(ValueError):
    """The file cannot be evidence; the message names the file and says why."""


@dataclass(frozen=True)
class CheckedFile:
    content: ContentFile
    kind: str
    content_type: str
    original_name: str
    size_bytes: int

    @property
    def storage_name(self) -> str:
        """The name to store under: the extension matches the content."""
        return "evidence" + EXTENSIONS[self.content_type]


def check_evidence(upload) -> CheckedFile:
    """Accept an uploaded file as evidence or raise ``RejectedUpload``."""
    name = upload.name
    head = upload.read(12)
    upload.seek(0)
    video_type = _video_type(head)
    if video_type:
        _refuse_if_larger(upload, name, settings.EVIDENCE_MAX_VIDEO_BYTES)
        return CheckedFile(ContentFile(upload.read()), EvidenceKind.VIDEO, video_type, name, upload.size)
    _refuse_if_larger(upload, name, settings.EVIDENCE_MAX_IMAGE_BYTES)
    data = upload.read()
    cleaned, content_type = _clean_photo(data, name)
    return CheckedFile(ContentFile(cleaned), EvidenceKind.PHOTO, content_type, name, len(cleaned))


def make_thumbnail(photo: bytes) -> bytes:
    with Image.open(io.BytesIO(photo)) as image:
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


def _clean_photo(data: bytes, name: str) -> tuple[bytes, str]:
    accepted = "JPEG, PNG, WebP or HEIC photos, or MP4 or MOV videos"
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format = _FORMAT_ALIASES.get(image.format, image.format)
                if image_format not in PHOTO_FORMATS:
                    raise RejectedUpload(f"“{name}” is a {image.format} image; we accept {accepted}.")
                pixels = image.width * image.height
                if pixels > settings.EVIDENCE_MAX_PIXELS:
                    raise RejectedUpload(
                        f"“{name}” is {image.width}×{image.height} pixels; "
                        f"the limit is {settings.EVIDENCE_MAX_PIXELS / 1e6:.0f} megapixels."
                    )
                image.load()
                return _without_location(image, image_format), PHOTO_FORMATS[image_format]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RejectedUpload(f"“{name}” has too many pixels to be a photo.") from None
    except UnidentifiedImageError:
        raise RejectedUpload(f"“{name}” is not a photo or video we can read; we accept {accepted}.") from None
    except RejectedUpload:
        raise
    except (OSError, SyntaxError, ValueError) as error:
        raise RejectedUpload(f"“{name}” is damaged and cannot be read ({error}).") from None


def _without_location(image: Image.Image, image_format: str) -> bytes:
    """Re-encode with EXIF minus its GPS block, and no XMP (which can repeat the location)."""
    exif = image.getexif()
    exif.pop(_GPS_IFD, None)
    image.info = {key: value for key, value in image.info.items() if key in _KEPT_INFO}
    options = dict(_SAVE_OPTIONS[image_format])
    # Pillow's JPEG and WebP writers take the colour profile only as an option.
    if image.info.get("icc_profile"):
        options["icc_profile"] = image.info["icc_profile"]
    if len(exif):
        options["exif"] = exif.tobytes()
    if image_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()
