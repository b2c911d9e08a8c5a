"""The feature store: Feast repo loading, as-of feature builds, point-in-time retrieval and
the online store. Core, because training, scoring and monitoring all read features."""
