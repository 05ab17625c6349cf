"""The engine room: which pjsua2 loads, what one process holds, and building one that holds more.

    capacity.py     the loaded module's per-process call cap (ctypes)
    info.py         probe the engine in a child process (`callproof engine info`)
    build.py        `callproof engine build`: pjproject from source, cached, installed
    install.py      where the built module lives and how it wins over the wheel
    pjproject/      config_site.h template and our patches
"""
