"""Notification transports: SMTP e-mail, an HTTP SMS gateway, and the desktop-notification
interface (the Qt system-tray implementation lives in ``ui/`` and is injected). Transports send
one message and raise :class:`DeliveryFailed`; they never touch the database."""

from cio_desktop.integrations.notify.base import DeliveryFailed, OutgoingMessage

__all__ = ["DeliveryFailed", "OutgoingMessage"]
