// Replaced by the engine entry points.
