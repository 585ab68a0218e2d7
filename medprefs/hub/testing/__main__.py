"""`python -m medprefs.hub.testing --token TOKEN`: serve a local Hub endpoint for manual runs and demos."""

from medprefs.hub.testing.server import main

main()
