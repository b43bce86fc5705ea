"""The one outbox: notifications to downstream systems, written in the transaction of the change they announce."""
