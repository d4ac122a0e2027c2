#!/usr/bin/env python
from kontor.__main__ import main

if __name__ == "__main__":
    main()
