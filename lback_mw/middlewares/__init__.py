"""Built-in middleware. Each lives in its own module; import what you use."""
