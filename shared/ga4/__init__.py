"""The GA4 protocol: gtag ``/g/collect`` hits and Measurement Protocol bodies → normalized events."""
