"""Signal receivers that feed the access log (filled in below)."""
