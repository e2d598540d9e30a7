"""One package per chapter: ``chapters/chNN_topic/`` matches ``notebooks/NN_topic.ipynb``."""
