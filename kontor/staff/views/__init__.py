"""Provider staff pages, by topic: customers (lookup, onboarding, detail), catalogue (cost centers and
features), staff users and the provider-wide audit log."""
