"""Features: vocabularies, transforms and the one definition of every feature (train = serve)."""
