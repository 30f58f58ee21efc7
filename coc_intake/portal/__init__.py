"""The portal (``coc portal``): employers upload, pre-check and submit workbooks, and follow them, on the web and
through a JSON API; the front door of the same pipeline (docs/portal.md).

``accounts`` holds the accounts database; ``sessions`` the signed cookies and CSRF tokens; ``uploads`` the files
being checked; ``app`` the FastAPI application and its pages; ``api`` the ``/api/v1`` routes; ``commands`` the
``coc accounts`` and ``coc portal`` commands.
"""
