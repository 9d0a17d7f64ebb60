"""The built-in update rules, one module each: a module here with a ``SPEC`` (or ``SPECS``) is
registered by ``optim.registry``, with no other edit."""
