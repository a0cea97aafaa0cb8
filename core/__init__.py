"""What every domain app shares, below them all: who acts, the state-machine helper, the event base."""
