"""One module per chapter: the cases of each exercise, with hints for the usual mistakes."""
