#!/usr/bin/env python3
"""Drive a command on a pseudo-terminal, as a person at a terminal would.

usage: pty_drive.py [--rows R --cols C] -- CMD [ARG...] < SCRIPT

SCRIPT has one step a line (blank lines and lines starting with # are
skipped); TEXT takes Python escapes (\\r, \\x03, \\x10\\x11):
  send TEXT          write TEXT to the terminal (keys typed)
  expect REGEX       wait (30 s at most) until the output since the last
                     match contains REGEX; its groups are printed as
                     "match: G1 G2..." on stdout
  resize ROWS COLS   change the window size (the command gets SIGWINCH)
  sleep SECONDS      wait
  exit CODE          wait (30 s at most) for the command to end with CODE
  exit-any           wait for it to end, print "exit: CODE"
  alive              fail unless it still runs
On a failed step it prints what it saw and exits 1; at the end 0. The
command's terminal starts at 24x80 unless told otherwise.
"""
import fcntl
import os
import re
import select
import signal
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Driver:
    def __init__(self, argv, rows, cols):
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:
            set_size(0, rows, cols)
            try:
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        set_size(self.fd, rows, cols)
        self.seen = b""
        self.pos = 0  # start of the not yet matched output
        self.status = None

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: no process holds the terminal any more
            data = b""
        if not data:
            return False
        self.seen += data
        return True

    def reap(self, block):
        if self.status is None:
            pid, st = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def fail(self, why):
        sys.stderr.write("pty_drive: %s\n--- terminal output ---\n%s\n---\n"
                         % (why, self.seen.decode("utf-8", "replace")))
        if self.reap(False) is None:
            os.kill(self.pid, signal.SIGKILL)
            self.reap(True)
        sys.exit(1)

    def expect(self, pattern, timeout=30.0):
        rx = re.compile(pattern.encode())
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.seen, self.pos)
            if m:
                self.pos = m.end()
                if m.groups():
                    print("match:", " ".join(g.decode() for g in m.groups()), flush=True)
                return
            left = end - time.monotonic()
            if left <= 0:
                self.fail("timed out waiting for %r" % pattern)
            if not self.read(min(left, 0.2)) and self.reap(False) is not None:
                self.fail("command ended (%s) before %r" % (self.status, pattern))

    def wait_exit(self, timeout=30.0):
        end = time.monotonic() + timeout
        while self.reap(False) is None:
            if time.monotonic() > end:
                self.fail("command still running")
            self.read(0.1)
        while self.read(0.05) and select.select([self.fd], [], [], 0)[0]:
            pass
        return self.status


def main():
    args = sys.argv[1:]
    rows, cols = 24, 80
    while args and args[0] != "--":
        if args[0] == "--rows":
            rows = int(args[1])
        elif args[0] == "--cols":
            cols = int(args[1])
        args = args[2:]
    d = Driver(args[1:], rows, cols)
    for line in sys.stdin.read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        if op == "send":
            os.write(d.fd, arg.encode().decode("unicode_escape").encode("latin-1"))
        elif op == "expect":
            d.expect(arg)
        elif op == "resize":
            r, c = arg.split()
            set_size(d.fd, int(r), int(c))
        elif op == "sleep":
            time.sleep(float(arg))
        elif op == "exit":
            st = d.wait_exit()
            if st != int(arg):
                d.fail("exit code %s, expected %s" % (st, arg))
        elif op == "exit-any":
            print("exit:", d.wait_exit(), flush=True)
        elif op == "alive":
            if d.reap(False) is not None:
                d.fail("command ended (%s)" % d.status)
        else:
            d.fail("unknown step %r" % line)
    if d.reap(False) is None:
        os.kill(d.pid, signal.SIGKILL)
        d.reap(True)
    sys.exit(0)


if __name__ == "__main__":
    main()
