"""Activation: trigger definitions, the due-time table of trigger work, decisions and delivery bodies."""
