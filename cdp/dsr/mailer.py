"""Sending the one-time verification code by email.

Two transports (CDP_MAIL_TRANSPORT): `outbox`, the default, writes each message as an .eml file under the
data directory's outbox/ and logs its path, so an embedded or demo deployment runs the whole data-subject flow
with no mail server; `smtp` sends it with a real client (smtplib), for production.
"""

from __future__ import annotations

import logging
import os
import smtplib
from email.message import EmailMessage
from pathlib import Path

from cdp.dsr.settings import DsrSettings
from cdp.ids import new_id, utcnow

logger = logging.getLogger("cdp.mail")


def send_code(settings: DsrSettings, to: str, code: str, request_id: str, ttl_minutes: int) -> None:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = "Your verification code for your privacy request"
    message.set_content(
        f"Someone asked to exercise data-protection rights for this address (request {request_id}).\n\n"
        f"Your verification code: {code}\n\n"
        f"It expires in {ttl_minutes} minutes. If this was not you, ignore this email: nothing happens "
        "without the code.\n"
    )
    if settings.mail_transport == "smtp":
        _send_smtp(settings, message)
    else:
        path = write_outbox(settings.resolved_outbox_dir(), message, request_id)
        logger.info("verification email for request %s written to %s", request_id, path.resolve())


def write_outbox(folder: Path, message: EmailMessage, request_id: str) -> Path:
    """One .eml per message, readable by its owner only (it holds a code and an address)."""
    folder.mkdir(parents=True, exist_ok=True)
    # the id's random tail: a UUIDv7 starts with the time, the same for messages a few seconds apart
    path = folder / f"{utcnow():%Y%m%dT%H%M%S}-{request_id}-{new_id()[-8:]}.eml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(bytes(message))
    return path


def _send_smtp(settings: DsrSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
