"""pbctl: the command line for running and checking the Boston PB platform."""
