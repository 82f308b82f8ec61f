"""The detection engine: transactions as rules see them (``tx``), card and user
profiles (``profile``), and the compiled catalogue that raises alerts (``engine``)."""
