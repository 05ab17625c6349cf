"""The engine room: which pjsua2 loads, what one process holds, and building one that holds more.

    capacity.py     the loaded module's per-process call cap (ctypes)
    info.py         probe the engine in a child process (`callproof engine info`)
    build.py        `callproof engine build`: pjproject from source, checked, cached, installed
    source.py       where the tree comes from: --source DIR, or Debian's ring package via our own apt lists
    patches.py      which of our patches each known tree gets (by fork and version)
    selfcheck.py    short calls on 127.0.0.1 through a built engine: fit for load or not
    install.py      where the built module lives and how it wins over the wheel
    pjproject/      config_site.h template and our patches
"""
