"""The review desk: ``segflow review serve``, a web app where the named owners of the owners
file log in, clear review items in bulk, approve and publish (docs/review-desk.md).

One module per job: ``users`` (accounts, argon2 hashes, the login throttle), ``csrf``
(tokens on every form and state-changing call), ``queue`` (paged, filtered queue queries
with bound parameters), ``app`` (the FastAPI routes) and ``templates/`` (server-rendered
pages in the reports' look, HTMX for partial updates). Every rule a decision must obey
(owners, four eyes, the gate) is the governance library's, so the desk and the CLI agree.
"""
