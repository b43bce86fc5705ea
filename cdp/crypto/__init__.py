"""Field-level encryption: per-profile data keys wrapped by a versioned master key, and blind indexes."""
