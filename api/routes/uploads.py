"""Reading an uploaded file within the size limit (the middleware already stopped larger bodies)."""

from __future__ import annotations

from fastapi import UploadFile

from api.errors import ApiError


async def read_upload(upload: UploadFile, max_bytes: int, field: str = "file") -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"Upload too large: the limit is {max_bytes:,} bytes")
    if not data:
        raise ApiError(400, f"{field}: the uploaded file is empty")
    return data
