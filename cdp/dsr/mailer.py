"""Sending the one-time verification code by email over SMTP (a real client: smtplib)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from cdp.dsr.settings import DsrSettings


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
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
