// Replaced by the VFS layer.
