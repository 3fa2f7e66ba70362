"""Container runtimes behind one small interface: podman (real), fake (in-memory, tests)."""
