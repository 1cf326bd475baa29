"""First-party serving: the Google tag from the tracking domain (``scripts``), identifier
cookies set by the server (``cookies``) and the registrable-domain helper both use (``domain``)."""
