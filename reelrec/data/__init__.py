"""Data layer: schema, readers and writers, public-dataset converters, synthetic world, splits."""
