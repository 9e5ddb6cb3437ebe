"""SaliBox: `python main.py [FOLDER_OR_PROJECT]` starts the app;
`python main.py SUBCOMMAND` runs headless.
"""

import sys

from desktop_app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
