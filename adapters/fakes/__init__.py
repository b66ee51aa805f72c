"""In-memory fakes of every port, recording what they receive and exposing controls."""
