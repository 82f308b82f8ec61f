"""The explained risk score: features of a transaction against its card's
profile (``features``), a small tree ensemble read from a JSON file and
evaluated in pure Python (``scorer``), its training and evaluation on
labelled simulator traffic (``train``, needs scikit-learn)."""
