"""Cloud SDK seams: the only modules that build cloud clients and translate their errors."""
