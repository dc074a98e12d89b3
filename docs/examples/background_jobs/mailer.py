"""Stand-in for an SMTP client: "sending" an email writes it to the OUTBOX folder."""

import os
import uuid
from email.message import EmailMessage
from pathlib import Path

OUTBOX = Path(os.environ.get("OUTBOX", "outbox"))


def send_welcome_email(address: str) -> Path:
    message = EmailMessage()
    message["From"] = "hello@example.com"
    message["To"] = address
    message["Subject"] = "Welcome aboard"
    message.set_content(f"Hi {address}, thanks for signing up!")
    OUTBOX.mkdir(parents=True, exist_ok=True)
    path = OUTBOX / f"{address}.{uuid.uuid4().hex[:8]}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(bytes(message))
    partial.replace(path)  # appears whole or not at all
    return path
