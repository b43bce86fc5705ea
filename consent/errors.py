class ConsentError(ValueError):
    """Bad input to the consent ledger; the message names the argument and what was expected."""
