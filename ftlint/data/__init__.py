"""Tables the rules consult, generated once from a real install and checked by the tests."""
