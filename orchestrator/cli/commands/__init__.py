"""One tiny module per command, imported only when that command runs."""
