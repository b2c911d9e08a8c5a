"""REST APIs as sources: ``kind: rest`` in sources.yaml and its ``salesforce`` preset
(docs/sources.md#kind-rest-an-http-api). ``config`` reads the keys, ``client`` sends the
requests (auth, retries, rate limits, the request budget), ``fetch`` pages through an API
into one Arrow table, ``salesforce`` fills the keys of the preset."""
