// Replaced by the data layer.
