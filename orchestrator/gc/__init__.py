"""Leak detection: stack state vs live resources found by job id vs each job's deadline."""
