"""Run a function in a fresh child process: spawned, or forked from a preloading server."""
