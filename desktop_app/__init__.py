"""SaliBox's wiring: the command line now, the desktop application and its worker later."""
