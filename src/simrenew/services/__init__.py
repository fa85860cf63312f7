"""Use cases. Each opens one unit of work and commits once; they see only the domain
and the ports."""
