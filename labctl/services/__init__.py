"""Network services that run inside the lab's containers (or as plain processes in tests)."""
