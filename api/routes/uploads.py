"""Reading an uploaded photo within the size limit (the middleware already stopped larger bodies)
and within the decode memory budget (refused from its header, before any pixel is decoded)."""

from __future__ import annotations

from fastapi import UploadFile

from api.config import ApiSettings
from api.errors import ApiError
from api.services.image_budget import check_decode_budget


async def read_upload(upload: UploadFile, settings: ApiSettings, field: str = "file") -> bytes:
    max_bytes = settings.max_upload_bytes
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"Upload too large: the limit is {max_bytes:,} bytes")
    if not data:
        raise ApiError(400, f"{field}: the uploaded file is empty")
    check_decode_budget(data, settings.max_decode_bytes)
    return data
