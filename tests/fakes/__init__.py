"""Local fakes of outside services, built from their documented formats."""
