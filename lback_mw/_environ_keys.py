"""The WSGI environ keys the core sets for middleware, in one module both can import."""

#: The WSGI environ key holding the last exception a layer turned into a response
#: (by ``process_exception``, an error handler or the 500 page). A layer that sees
#: only the response, such as a database session choosing between commit and
#: rollback, still learns that something inside it failed.
EXCEPTION_KEY = "lback_mw.exception"
