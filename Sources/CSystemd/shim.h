// libsystemd's daemon and journal APIs, for the Systemd target only (STYLE.md 2.1).
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
