from backoffice.formats.en_GB.formats import *  # noqa: F403  (the same rule whatever the English)
