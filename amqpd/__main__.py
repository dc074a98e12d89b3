import sys

from amqpd.cli import main

sys.exit(main())
