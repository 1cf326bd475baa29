"""The project's Python package, deployed with every function.

GA4 protocol parsing (``shared.ga4``), the normalized event and its Pub/Sub attributes
(``shared.event``), publishing (``shared.publishing``), the collect HTTP handler
(``shared.collect_app``), the vendor delivery runtime (``shared.delivery``), and structured
logging (``shared.jsonlog``).
"""
