"""`qnn_lite.recipes`: the chapters' experiments — training recipes and the tables the chapters print."""
